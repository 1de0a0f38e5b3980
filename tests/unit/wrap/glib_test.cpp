#include "wrap/glib.hpp"

#include <gtest/gtest.h>

namespace imgbuild::wrap {
namespace {

class StageError : public Error {
public:
    using Error::Error;
};

gboolean fail_with(GError** error, const char* message) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, message);
    return FALSE;
}

TEST(Gcall, ThrowsTheCallersErrorTypeWithGLibsMessage) {
    try {
        gcall<StageError>("write '/x'", [](auto error) { return fail_with(error, "disk full"); });
    } catch (const StageError& e) {
        EXPECT_EQ(e.message(), "Failed to write '/x': disk full");
        return;
    }
    FAIL() << "gcall<StageError> throws a StageError";
}

TEST(Gcall, ThrowsErrorByDefaultAndNothingWhenTheCallSucceeds) {
    EXPECT_NO_THROW(gcall("succeed", [](auto) { return TRUE; }));
    EXPECT_THROW(gcall("fail", [](auto error) { return fail_with(error, "no"); }), Error);
    // A call that fails without setting its GError still says that it failed.
    try {
        gcall("fail", [](auto) { return FALSE; });
        FAIL() << "gcall throws when the call returns false";
    } catch (const Error& e) {
        EXPECT_EQ(e.message(), "Failed to fail: unknown error");
    }
}

TEST(GcallPtr, ReturnsThePointerOrThrowsTheCallersErrorType) {
    GCharPtr text(gcall_ptr<StageError>("make a string", [](auto) { return g_strdup("made"); }));
    EXPECT_STREQ(text.get(), "made");
    EXPECT_THROW(gcall_ptr<StageError>("open '/missing'",
                                       [](auto error) {
                                           return g_file_read(GFilePtr(g_file_new_for_path("/nonexistent/x")).get(),
                                                              nullptr, error);
                                       }),
                 StageError);
}

} // namespace
} // namespace imgbuild::wrap
