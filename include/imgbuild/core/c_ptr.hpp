#pragma once
// One deleter template for every C library object: `CPtr<Pool, pool_free>` owns a Pool and frees it
// with pool_free. Ownership leaves a function as such a unique_ptr. It lives in core (it depends on
// nothing) so core's own C libraries (curl, OpenSSL) use it too; src/wrap/ builds its aliases on it.

#include <cstdio>
#include <memory>

namespace imgbuild {

template <auto Free>
struct Deleter {
    template <class T>
    void operator()(T* pointer) const noexcept {
        if (pointer) Free(pointer);
    }
};

template <class T, auto Free>
using CPtr = std::unique_ptr<T, Deleter<Free>>;

using CFile = CPtr<FILE, std::fclose>;

} // namespace imgbuild
