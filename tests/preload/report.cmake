# The exit report and memleak_report(), on real programs under LD_PRELOAD:
# each test program marks its leaking lines (`LEAK: name bytes=B blocks=N`)
# and report_test.py checks the report against those marks.

find_package(Threads REQUIRED)

foreach(_src report_leaks.c report_leaks_cpp.cpp report_clean.c report_clean_cpp.cpp
             report_cap.c report_midrun.c report_busy_exit.c report_fork.c)
  get_filename_component(_name ${_src} NAME_WE)
  add_executable(${_name} ${_src})
  # Optimized, as users ship; the sources keep allocations out of tail
  # position so every marked line keeps its own frame.
  target_compile_options(${_name} PRIVATE -O2 -g)
  target_link_libraries(${_name} PRIVATE Threads::Threads)
endforeach()
target_include_directories(report_midrun PRIVATE ${PROJECT_SOURCE_DIR}/runtime/include)

# The writer and the suppression language, without a process around them.
add_executable(report_units report_units.cpp)
target_link_libraries(report_units PRIVATE memleak_report GTest::gtest_main)
add_test(NAME report.Units COMMAND report_units)
set_tests_properties(report.Units PROPERTIES LABELS preload)

set(_report_env
  MEMLEAK_LIB=$<TARGET_FILE:memleak>
  REPORT_BIN_DIR=${CMAKE_CURRENT_BINARY_DIR}
  PYTHONDONTWRITEBYTECODE=1
)
foreach(_case Leaks CxxLeaks Clean ExitCode Cap Frames Suppressions Midrun BusyExit Fork)
  add_test(NAME report.${_case}
    COMMAND /usr/bin/python3 -m unittest -v report_test.${_case}Tests
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(report.${_case} PROPERTIES
    ENVIRONMENT "${_report_env}"
    TIMEOUT 300
    LABELS preload)
endforeach()

# The same leaks at the same lines when libunwind unwinds every stack.
foreach(_case Leaks CxxLeaks)
  add_test(NAME report.${_case}.libunwind
    COMMAND /usr/bin/python3 -m unittest -v report_test.${_case}Tests
    WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  set_tests_properties(report.${_case}.libunwind PROPERTIES
    ENVIRONMENT "${_report_env};MEMLEAK_FAST_UNWIND=0"
    TIMEOUT 300
    LABELS preload)
endforeach()
