# Build helpers: every library folder declares itself in one line,
#   tess_library(NAME DEPS dep1 dep2 ...)
# so that the link graph, read from the src/*/CMakeLists.txt files, is the architecture.
# Sources are the folder's *.cc files; *_test.cc files form the library's unit-test binary,
# and *_fuzz.cc files are libFuzzer entry points.

set(TESS_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor
    -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports a false mismatched-new-delete on Asio's coroutine frame allocator.
  list(APPEND TESS_WARNINGS -Wno-mismatched-new-delete)
endif()

if(TESS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # clang 14 cannot emit -fsanitize=function checks in coroutines ("Cannot represent a
    # difference across sections"); every other UBSan check stays on.
    add_compile_options(-fno-sanitize=function)
  endif()
endif()

# tess_library(NAME [DEPS targets...])
function(tess_library name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "(_test|_fuzz|_main)\\.cc$")
  add_library(tess_${name} STATIC ${srcs})
  add_library(tess::${name} ALIAS tess_${name})
  target_include_directories(tess_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(tess_${name} PRIVATE ${TESS_WARNINGS})
  target_link_libraries(tess_${name} PUBLIC ${ARG_DEPS})
  if(NOT TESS_FUZZ)
    tess_unit_tests(${name})
  endif()
endfunction()

# The unit tests of library NAME: every *_test.cc in its folder, one binary, one ctest per test.
function(tess_unit_tests name)
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT tests)
    return()
  endif()
  add_executable(${name}_test ${tests})
  target_compile_options(${name}_test PRIVATE ${TESS_WARNINGS})
  target_link_libraries(${name}_test PRIVATE tess_${name} tess::testing GTest::gtest_main
                        GTest::gmock)
  gtest_discover_tests(${name}_test DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# tess_executable(NAME SOURCES... DEPS targets...)
function(tess_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_options(${name} PRIVATE ${TESS_WARNINGS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
endfunction()
