# Python tests are found, not listed: memleak_python_tests() adds one ctest
# test, PREFIX.test_NAME, for every test_*.py in the calling directory,
# globbed at configure time with CONFIGURE_DEPENDS (a new file is picked up
# by the next build). The test python_tests_all_registered fails when a
# test_*.py anywhere under tests/ is run by no ctest test.
#
#   memleak_python_tests(PREFIX LABEL label TIMEOUT seconds [ENVIRONMENT var=value...])

# gdb embeds /usr/bin/python3, so that is the interpreter the extension and
# its tests must run on.
set(MEMLEAK_GDB_PYTHON /usr/bin/python3 CACHE FILEPATH "Python that gdb embeds")

function(memleak_python_tests prefix)
  cmake_parse_arguments(PT "" "LABEL;TIMEOUT" "ENVIRONMENT" ${ARGN})
  file(GLOB files CONFIGURE_DEPENDS RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}
       ${CMAKE_CURRENT_SOURCE_DIR}/test_*.py)
  foreach(file IN LISTS files)
    get_filename_component(module ${file} NAME_WE)
    add_test(NAME ${prefix}.${module}
             COMMAND ${MEMLEAK_GDB_PYTHON} -m unittest -v ${module}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    set_tests_properties(${prefix}.${module} PROPERTIES LABELS ${PT_LABEL} TIMEOUT ${PT_TIMEOUT}
                         ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1;${PT_ENVIRONMENT}")
  endforeach()
endfunction()
