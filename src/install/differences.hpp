#pragma once
// What a root's package database (name → version) has that the lock does not, and the reverse, in
// words, one line each: the check both installers end with.

#include <map>
#include <string>
#include <vector>

#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::install {

std::vector<std::string> lock_differences(const resolve::Lock& lock,
                                          const std::map<std::string, std::string>& installed);

} // namespace imgbuild::install
