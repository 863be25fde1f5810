#include "testing/testing.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

namespace tessera::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::filesystem::path root = base != nullptr ? base : "/tmp";
  std::string pattern = (root / "tessera-test-XXXXXX").string();
  char* made = mkdtemp(pattern.data());
  TESS_ASSERT(made != nullptr, "mkdtemp({}) failed", pattern);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace tessera::testing
