# weft_sanitizers: compile and link flags for WEFT_SANITIZER (none | address,undefined | thread).
#
# An INTERFACE target linked to weft with $<BUILD_INTERFACE:...>, so every target in this
# build that uses weft (tests, examples, benchmarks, an add_subdirectory parent) is
# instrumented the same way as the library, and the installed package never carries the flags.
# Code that cannot run under a sanitizer (the Relacy model tests) simply does not link weft.

add_library(weft_sanitizers INTERFACE)

if(NOT WEFT_SANITIZER STREQUAL "none")
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR
      "WEFT_SANITIZER=${WEFT_SANITIZER} needs GCC or Clang (found ${CMAKE_CXX_COMPILER_ID}); "
      "configure with WEFT_SANITIZER=none")
  endif()
  set(weft_sanitizer_flags "-fsanitize=${WEFT_SANITIZER}")
  target_compile_options(weft_sanitizers INTERFACE
    ${weft_sanitizer_flags}
    # Readable stacks in every report.
    -fno-omit-frame-pointer)
  if(WEFT_SANITIZER MATCHES "undefined")
    # Make UBSan findings fatal, so a test that trips one fails instead of just printing.
    target_compile_options(weft_sanitizers INTERFACE -fno-sanitize-recover=all)
  endif()
  if(WEFT_SANITIZER MATCHES "address" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC's ASan instrumentation makes -Wmaybe-uninitialized report false positives inside
    # libstdc++ (e.g. std::function in <regex> with GCC 12), which -Werror turns into build
    # failures. The uninstrumented GCC builds keep the warning.
    target_compile_options(weft_sanitizers INTERFACE -Wno-maybe-uninitialized)
  endif()
  target_link_options(weft_sanitizers INTERFACE ${weft_sanitizer_flags})
endif()
