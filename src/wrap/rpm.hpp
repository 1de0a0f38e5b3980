#pragma once
// librpm for C++: an owner per rpm object (rpm-ostree keeps the same list of cleanup functions), so no
// rpm object is freed by hand. Each alias is the unique_ptr of the pointer type librpm hands out.

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmio.h>
#include <rpm/rpmkeyring.h>
#include <rpm/rpmps.h>
#include <rpm/rpmts.h>

#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "wrap/c_ptr.hpp"

namespace imgbuild::wrap {

inline void close_rpm_fd(FD_t fd) { Fclose(fd); }

using RpmTs = CPtr<rpmts_s, rpmtsFree>;
using RpmHeader = CPtr<headerToken_s, headerFree>;
using RpmFd = CPtr<std::remove_pointer_t<FD_t>, close_rpm_fd>;
using RpmProblems = CPtr<rpmps_s, rpmpsFree>;
using RpmProblemIterator = CPtr<rpmpsi_s, rpmpsFreeIterator>;
using RpmDbIterator = CPtr<rpmdbMatchIterator_s, rpmdbFreeIterator>;
using RpmKeyring = CPtr<rpmKeyring_s, rpmKeyringFree>;
using RpmPubkey = CPtr<rpmPubkey_s, rpmPubkeyFree>;
// A string librpm allocated with malloc (headerGetAsString, rpmProblemString).
using RpmString = CPtr<char, std::free>;

// An rpm file opened for reading (Fopen "r.ufdio"); null when it cannot be opened.
inline RpmFd open_rpm_fd(const char* path) {
    RpmFd fd(Fopen(path, "r.ufdio"));
    if (fd && Ferror(fd.get())) fd.reset();
    return fd;
}

// The transaction's problems as rpm words them.
inline std::vector<std::string> problem_strings(rpmts ts) {
    std::vector<std::string> result;
    RpmProblems problems(rpmtsProblems(ts));
    RpmProblemIterator iterator(rpmpsInitIterator(problems.get()));
    while (rpmpsiNext(iterator.get()) != nullptr)
        result.emplace_back(RpmString(rpmProblemString(rpmpsGetProblem(iterator.get()))).get());
    return result;
}

} // namespace imgbuild::wrap
