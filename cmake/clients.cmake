# Client side: the Python SDK tests (label sdk), against the real server.
if(TARGET hyperspace-server)
  add_test(NAME sdk_python COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider
           ${CMAKE_SOURCE_DIR}/sdks/python/tests)
  set_tests_properties(sdk_python PROPERTIES LABELS sdk TIMEOUT 1200
                       ENVIRONMENT "HS_SERVER_BIN=$<TARGET_FILE:hyperspace-server>;PYTHONDONTWRITEBYTECODE=1;HS_SDK_REPORT=${CMAKE_BINARY_DIR}/sdk-report.txt")
endif()
