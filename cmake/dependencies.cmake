# Third-party dependencies, all from Debian packages (scripts/install-deps installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED)
find_package(Protobuf REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(GTest REQUIRED)
find_package(CLI11 REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ISAL REQUIRED IMPORTED_TARGET libisal)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
find_package(RocksDB REQUIRED CONFIG)

# Boost.Asio without the deprecated io_service names; coroutines through C++20.
add_library(tess_boost INTERFACE)
target_link_libraries(tess_boost INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(tess_boost INTERFACE BOOST_ASIO_NO_DEPRECATED
                           BOOST_ASIO_DISABLE_BOOST_COROUTINE)
