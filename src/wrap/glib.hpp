#pragma once
// GLib, GIO and libostree for C++: owners for GObjects, GVariants and g_free'd strings, and GError turned
// into an exception right where the C call returns. g_autoptr and GError** stay in this folder.

#include <gio/gio.h>
#include <glib.h>
#include <ostree.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "imgbuild/core/error.hpp"
#include "wrap/c_ptr.hpp"

namespace imgbuild::wrap {

inline void unref_object(gpointer object) { g_object_unref(object); }

template <class T>
using GObjectPtr = std::unique_ptr<T, Deleter<unref_object>>;
using GVariantPtr = CPtr<GVariant, g_variant_unref>;
using GCharPtr = CPtr<char, g_free>;
using GBytesPtr = CPtr<GBytes, g_bytes_unref>;

using GKeyFilePtr = CPtr<GKeyFile, g_key_file_unref>;
using GHashTablePtr = CPtr<GHashTable, g_hash_table_unref>;
using GFilePtr = GObjectPtr<GFile>;
using GErrorPtr = CPtr<GError, g_error_free>;

// Calls `call(error)` with a GError** (callers write `[&](auto error) { return ostree_…(…, error); }`);
// when it returns false, throws ErrorType "Failed to <what>: <GError's message>". ErrorType is the
// stage's error (`gcall<CommitError>(…)`), as with run_checked<ErrorType>.
template <class ErrorType = Error, class Call>
void gcall(std::string_view what, Call&& call) {
    GError* raw = nullptr;
    bool ok = call(&raw);
    GErrorPtr error(raw);
    if (!ok) throw ErrorType("Failed to {}: {}", what, error ? error->message : "unknown error");
}

// The same for a call that returns an owned pointer (null on failure): the pointer, never null.
template <class ErrorType = Error, class Call>
auto gcall_ptr(std::string_view what, Call&& call) {
    GError* raw = nullptr;
    auto* result = call(&raw);
    GErrorPtr error(raw);
    if (!result) throw ErrorType("Failed to {}: {}", what, error ? error->message : "unknown error");
    return result;
}

// Pulls the commit `checksum` (depth 0: no parents) from the repository at `source` into `repo`
// through a file:// URL: a build reaches the archive this way, a deployment its sysroot (from a bare
// repository on the same filesystem ostree links the objects instead of copying them).
template <class ErrorType = Error>
void pull_local(OstreeRepo* repo, const std::filesystem::path& source, const std::string& checksum,
                std::string_view what) {
    GVariantBuilder builder;
    g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sv}"));
    const char* refs[] = {checksum.c_str(), nullptr};
    g_variant_builder_add(&builder, "{s@v}", "refs", g_variant_new_variant(g_variant_new_strv(refs, 1)));
    g_variant_builder_add(&builder, "{s@v}", "depth", g_variant_new_variant(g_variant_new_int32(0)));
    GVariantPtr options(g_variant_ref_sink(g_variant_builder_end(&builder)));
    std::string url = "file://" + std::filesystem::absolute(source).lexically_normal().string();
    gcall<ErrorType>(what, [&](GError** error) {
        return ostree_repo_pull_with_options(repo, url.c_str(), options.get(), nullptr, nullptr, error);
    });
}

// A floating GVariant taken over (g_variant_ref_sink), so its owner frees it.
inline GVariantPtr take(GVariant* variant) { return GVariantPtr(g_variant_ref_sink(variant)); }

} // namespace imgbuild::wrap
