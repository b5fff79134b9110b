#pragma once
// One registration function per workload file (BENCHMARKS.md). main.cpp calls them all.
// W5 (parallel-for), W9 (timers) and W10 (elastic) are not here yet.

namespace weft_bench {

void register_w1_submit_throughput();
void register_w2_future_throughput();
void register_w3_short_tasks();
void register_w4_fork_join();
void register_w6_wake_latency();
void register_w7_multi_producer();
void register_w8_idle_cost();

inline void register_all_workloads() {
  register_w1_submit_throughput();
  register_w2_future_throughput();
  register_w3_short_tasks();
  register_w4_fork_join();
  register_w6_wake_latency();
  register_w7_multi_producer();
  register_w8_idle_cost();
}

}  // namespace weft_bench
