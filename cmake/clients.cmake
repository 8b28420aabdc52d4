# Client side: the Python and TypeScript SDK tests (label sdk), against the real server.
if(TARGET hyperspace-server)
  add_test(NAME sdk_python COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/sdks/python/tests)
  set_tests_properties(sdk_python PROPERTIES LABELS sdk TIMEOUT 1200
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_SDK_REPORT=${CMAKE_BINARY_DIR}/sdk-report.txt")
  # npm ci (packages from the npm registry, as pinned by package-lock.json), tsc, node --test.
  # node and npm come from scripts/deps.sh (test group). It works in sdks/typescript itself
  # (node_modules/, dist/ and proto/ there are ignored by git); RESOURCE_LOCK keeps two build
  # directories' runs from sharing that folder at once.
  find_program(NPM_EXECUTABLE npm)
  if(NOT NPM_EXECUTABLE)
    set(NPM_EXECUTABLE npm)  # not found at configure time: the test fails and says so
  endif()
  add_test(NAME sdk_typescript
           COMMAND /bin/sh -c "\"$0\" ci --no-audit --no-fund && \"$0\" run build && \"$0\" test"
                   ${NPM_EXECUTABLE}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/sdks/typescript)
  set_tests_properties(sdk_typescript PROPERTIES LABELS sdk TIMEOUT 1200
                       RESOURCE_LOCK sdks_typescript_dir
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;HS_SDK_REPORT=${CMAKE_BINARY_DIR}/sdk-report.txt")
endif()

# hyperspace-cli: the terminal monitor (ncurses) and scripting commands over the HTTP API.
pkg_check_modules(NCURSESW REQUIRED IMPORTED_TARGET ncursesw)
add_executable(hyperspace-cli cli/main.c cli/http.c cli/monitor.c)
target_link_libraries(hyperspace-cli PRIVATE PkgConfig::NCURSESW PkgConfig::CJSON m)
if(TARGET hyperspace-server)
  add_test(NAME cli_tmux COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/cli/tests)
  set_tests_properties(cli_tmux PROPERTIES LABELS "sdk;cli" TIMEOUT 600
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;HS_CLI_BIN=$<TARGET_FILE:hyperspace-cli>;PYTHONDONTWRITEBYTECODE=1")
endif()

include(cmake/install.cmake)

# make install into a DESTDIR and a scratch prefix, checked; systemd-analyze verify on the unit
# (release builds only: the test links a program against the installed library).
if(TARGET hyperspace-server AND NOT HS_SANITIZE AND NOT HS_FUZZ)
  add_test(NAME packaging_install COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/packaging/tests)
  set_tests_properties(packaging_install PROPERTIES LABELS "sdk;packaging" TIMEOUT 900
                       RUN_SERIAL TRUE
                       ENVIRONMENT "HS_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
endif()
