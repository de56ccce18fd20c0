# tinyml_kernels as a user C module of a CMake-based port (esp32, rp2). CMake's USER_C_MODULES takes this
# folder (or this file) directly, or a top-level micropython.cmake of yours can include() this one:
#   make -C ports/rp2 BOARD=RPI_PICO USER_C_MODULES=/path/to/tinyml/firmware/kernels
#   idf.py -D USER_C_MODULES=/path/to/tinyml/firmware/kernels/micropython.cmake build   (ports/esp32)
add_library(usermod_tinyml_kernels INTERFACE)
target_sources(usermod_tinyml_kernels INTERFACE ${CMAKE_CURRENT_LIST_DIR}/tinyml_kernels.c)
target_include_directories(usermod_tinyml_kernels INTERFACE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(usermod INTERFACE usermod_tinyml_kernels)
