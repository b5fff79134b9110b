#pragma once
// The umbrella header: everything weft offers. Includes only.

#include <weft/as_completed.hpp>
#include <weft/callback_handle.hpp>
#include <weft/config.hpp>
#include <weft/error.hpp>
#include <weft/future.hpp>
#include <weft/future_state.hpp>
#include <weft/pool_options.hpp>
#include <weft/pool_stats.hpp>
#include <weft/this_worker.hpp>
#include <weft/thread_pool.hpp>
#include <weft/wait.hpp>
#include <weft/when_all.hpp>
#include <weft/when_any.hpp>
