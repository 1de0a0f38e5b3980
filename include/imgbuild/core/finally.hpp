#pragma once
// A scope guard (Nix's Finally): runs a function when the scope ends, by return or by exception. For
// one-off cleanups that have no owner type of their own; an owner (Fd, CPtr, RemoveOnExit) is better
// when the thing cleaned up is one object.

#include <utility>

namespace imgbuild {

template <class Function>
class [[nodiscard("a Finally runs at the end of its scope; an unnamed one runs at once")]] Finally {
public:
    explicit Finally(Function function) : m_function(std::move(function)) {}
    ~Finally() { m_function(); }
    Finally(const Finally&) = delete;
    Finally& operator=(const Finally&) = delete;
    Finally(Finally &&) = delete;
    Finally& operator=(Finally&&) = delete;

private:
    Function m_function;
};

} // namespace imgbuild
