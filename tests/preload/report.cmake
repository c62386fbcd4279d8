# The exit report and memleak_report(), on real programs under LD_PRELOAD:
# each test program marks its leaking lines (`LEAK: name bytes=B blocks=N`)
# and report_test.py checks the report against those marks.

find_package(Threads REQUIRED)

foreach(_src report_leaks.c report_leaks_cpp.cpp report_lost.c report_spinning.c report_clean.c report_clean_cpp.cpp
             report_cap.c report_midrun.c report_busy_exit.c report_fork.c)
  get_filename_component(_name ${_src} NAME_WE)
  add_executable(${_name} ${_src})
  # Optimized, as users ship; the sources keep allocations out of tail
  # position so every marked line keeps its own frame.
  target_compile_options(${_name} PRIVATE -O2 -g)
  target_link_libraries(${_name} PRIVATE Threads::Threads)
endforeach()
target_include_directories(report_midrun PRIVATE ${PROJECT_SOURCE_DIR}/runtime/include)

# The same leaky programs built by clang, which emits no .debug_aranges: the
# exit report must still find each frame's compile unit and file:line.
find_program(MEMLEAK_CLANG clang)
find_program(MEMLEAK_CLANGXX clang++)
if(MEMLEAK_CLANG AND MEMLEAK_CLANGXX)
  set(_clang_programs)
  foreach(_opt O0 O2)
    foreach(_src report_leaks.c report_leaks_cpp.cpp)
      get_filename_component(_name ${_src} NAME_WE)
      get_filename_component(_ext ${_src} EXT)
      set(_compiler ${MEMLEAK_CLANG})
      if(_ext STREQUAL ".cpp")
        set(_compiler ${MEMLEAK_CLANGXX})
      endif()
      set(_out ${CMAKE_CURRENT_BINARY_DIR}/${_name}_clang_${_opt})
      add_custom_command(OUTPUT ${_out}
        COMMAND ${_compiler} -g -${_opt} -o ${_out} ${CMAKE_CURRENT_SOURCE_DIR}/${_src}
        DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${_src}
        COMMENT "Building ${_name}_clang_${_opt} with clang"
        VERBATIM)
      list(APPEND _clang_programs ${_out})
    endforeach()
  endforeach()
  add_custom_target(report_clang_programs ALL DEPENDS ${_clang_programs})
endif()

# The writer and the suppression language, without a process around them.
add_executable(report_units report_units.cpp)
target_link_libraries(report_units PRIVATE memleak_report GTest::gtest_main)
add_test(NAME report.Units COMMAND report_units)
set_tests_properties(report.Units PROPERTIES LABELS preload)

# The exit scan's thread stop and roots, on real threads of the test itself.
add_executable(exit_scan_units exit_scan_units.cpp)
target_link_libraries(exit_scan_units PRIVATE memleak_report GTest::gtest_main Threads::Threads)
add_test(NAME report.ExitScanUnits COMMAND exit_scan_units)
set_tests_properties(report.ExitScanUnits PROPERTIES LABELS preload TIMEOUT 120)

set(_report_env
  MEMLEAK_LIB=$<TARGET_FILE:memleak>
  REPORT_BIN_DIR=${CMAKE_CURRENT_BINARY_DIR}
  PYTHONDONTWRITEBYTECODE=1
)
foreach(_case Leaks CxxLeaks Clang Kinds Clean ExitCode Cap Frames Suppressions Midrun BusyExit Spinning UnderGdb Fork)
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
