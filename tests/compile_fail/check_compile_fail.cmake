# check_compile_fail.cmake: passes when SOURCE fails to compile, for the reason the test intends.
#
#   cmake -DCOMPILER=<c++> -DSOURCE=<file.cpp> -DINCLUDE_DIR=<dir> -DGENERATED_INCLUDE_DIR=<dir>
#         -P check_compile_fail.cmake
#
# A compile-fail test that fails because of a typo or a missing header proves nothing, so:
#   - the test fails if the file compiles;
#   - the test fails if the compiler could not find a header;
#   - every "// expected-error: <regex>" line in the file must match the diagnostics.

foreach(var IN ITEMS COMPILER SOURCE INCLUDE_DIR GENERATED_INCLUDE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_compile_fail.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(
  COMMAND "${COMPILER}" -std=c++20 -fsyntax-only
          "-I${INCLUDE_DIR}" "-I${GENERATED_INCLUDE_DIR}" "${SOURCE}"
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)

if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must be rejected")
endif()

# GCC: "fatal error: x.hpp: No such file or directory"; Clang: "fatal error: 'x.hpp' file not found"
if(output MATCHES "fatal error: [^\n]*(No such file or directory|file not found)")
  message(FATAL_ERROR "${SOURCE} failed for the wrong reason (a missing header):\n${output}")
endif()

file(STRINGS "${SOURCE}" expectations REGEX "^[ \t]*// expected-error: ")
foreach(line IN LISTS expectations)
  string(REGEX REPLACE "^[ \t]*// expected-error: " "" pattern "${line}")
  if(NOT output MATCHES "${pattern}")
    message(FATAL_ERROR
      "${SOURCE}: the diagnostics do not match expected-error '${pattern}':\n${output}")
  endif()
endforeach()

string(REGEX MATCH "[^\n]*error:[^\n]*" first_error "${output}")
message(STATUS "rejected as required: ${first_error}")
