# lok_cc_library(NAME name HDRS ... SRCS ... DEPS ... [PRIVATE_DEPS ...])
# Creates the static library lok_<name> with the alias lok::<name>. Always link
# through the alias. Headers are included as "<module>/<file>.h" from src/.
set(LOK_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wconversion -Wsign-conversion -Wdouble-promotion
    -Wformat=2 -Wimplicit-fallthrough)

function(lok_cc_library)
  cmake_parse_arguments(LOK "" "NAME" "HDRS;SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target lok_${LOK_NAME})
  if(LOK_SRCS)
    add_library(${target} STATIC ${LOK_SRCS} ${LOK_HDRS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${LOK_DEPS} PRIVATE ${LOK_PRIVATE_DEPS})
    target_compile_options(${target} PRIVATE ${LOK_WARNINGS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(${target} INTERFACE ${LOK_DEPS})
  endif()
  add_library(lok::${LOK_NAME} ALIAS ${target})
endfunction()

# lok_cc_test(NAME name SRCS ... DEPS ... LABELS unit|integration|e2e)
# A GoogleTest binary registered with ctest under the given label.
function(lok_cc_test)
  cmake_parse_arguments(LOK "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT LOK_BUILD_TESTS)
    return()
  endif()
  add_executable(${LOK_NAME} ${LOK_SRCS})
  target_link_libraries(${LOK_NAME} PRIVATE ${LOK_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_options(${LOK_NAME} PRIVATE ${LOK_WARNINGS})
  if(NOT LOK_TIMEOUT)
    set(LOK_TIMEOUT 300)
  endif()
  gtest_discover_tests(${LOK_NAME}
    PROPERTIES LABELS "${LOK_LABELS}" TIMEOUT ${LOK_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

# lok_cc_binary(NAME name SRCS ... DEPS ...): a deployable in build/bin.
function(lok_cc_binary)
  cmake_parse_arguments(LOK "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${LOK_NAME} ${LOK_SRCS})
  target_link_libraries(${LOK_NAME} PRIVATE ${LOK_DEPS})
  target_compile_options(${LOK_NAME} PRIVATE ${LOK_WARNINGS})
endfunction()
