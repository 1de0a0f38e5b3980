#pragma once
// GLib, GIO and libostree for C++: owners for GObjects, GVariants and g_free'd strings, and GError turned
// into an exception right where the C call returns. g_autoptr and GError** stay in this folder.

#include <gio/gio.h>
#include <glib.h>
#include <ostree.h>

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

// Calls `call(GError**)`; when it returns false, throws Error "Failed to <what>: <GError's message>".
template <class Call>
void gcall(std::string_view what, Call&& call) {
    GError* error = nullptr;
    if (!call(&error)) {
        std::string message = error ? error->message : "unknown error";
        if (error) g_error_free(error);
        throw Error("Failed to {}: {}", what, message);
    }
}

// A floating GVariant taken over (g_variant_ref_sink), so its owner frees it.
inline GVariantPtr take(GVariant* variant) { return GVariantPtr(g_variant_ref_sink(variant)); }

} // namespace imgbuild::wrap
