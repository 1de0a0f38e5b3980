#pragma once
// gpgme for C++: owners for contexts and data buffers, and errors turned into exceptions at once.

#include <gpgme.h>

#include <string>
#include <string_view>

#include "imgbuild/core/error.hpp"
#include "wrap/c_ptr.hpp"

namespace imgbuild::wrap {

using GpgmeContext = CPtr<gpgme_context, gpgme_release>;
using GpgmeData = CPtr<gpgme_data, gpgme_data_release>;

// Throws Error "Failed to <what>: <gpgme's reason>" unless `error` is success.
inline void gpgme_check(gpgme_error_t error, std::string_view what) {
    if (gpgme_err_code(error) != GPG_ERR_NO_ERROR) throw Error("Failed to {}: {}", what, gpgme_strerror(error));
}

// A data buffer over `bytes` (copied, so the buffer may outlive them).
inline GpgmeData gpgme_data_of(std::string_view bytes) {
    gpgme_data_t data = nullptr;
    gpgme_check(gpgme_data_new_from_mem(&data, bytes.data(), bytes.size(), 1), "create a gpgme buffer");
    return GpgmeData(data);
}

inline GpgmeData gpgme_data_empty() {
    gpgme_data_t data = nullptr;
    gpgme_check(gpgme_data_new(&data), "create a gpgme buffer");
    return GpgmeData(data);
}

// The bytes written into `data`.
inline std::string gpgme_data_string(gpgme_data_t data) {
    std::string result;
    gpgme_data_seek(data, 0, SEEK_SET);
    char buffer[8192];
    for (ssize_t n; (n = gpgme_data_read(data, buffer, sizeof buffer)) > 0;)
        result.append(buffer, static_cast<std::size_t>(n));
    return result;
}

} // namespace imgbuild::wrap
