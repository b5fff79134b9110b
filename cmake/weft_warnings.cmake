# weft_warnings: the warning set for weft's own targets (STYLE.md §2.11).
#
# An INTERFACE target that is linked PRIVATE to the library and to every test, example and
# benchmark target. It is never exported: consumers choose their own warnings.

add_library(weft_warnings INTERFACE)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(weft_warnings INTERFACE
    -Wall -Wextra -Wpedantic
    -Wshadow -Wconversion -Wsign-conversion -Wold-style-cast
    -Wnon-virtual-dtor -Woverloaded-virtual
    # Clang checks the WEFT_GUARDED_BY / WEFT_REQUIRES lock annotations.
    $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety>
    $<$<BOOL:${WEFT_WARNINGS_AS_ERRORS}>:-Werror>)
elseif(MSVC)
  target_compile_options(weft_warnings INTERFACE
    /W4 /permissive-
    $<$<BOOL:${WEFT_WARNINGS_AS_ERRORS}>:/WX>)
endif()
