#pragma once
// libsolv for C++: owners for Pool, Solver and Transaction, and Queue as a movable value.
// libsolv's Solvable has a member named `requires`, a C++20 keyword; LIBSOLV_SOLVABLE_PREPEND_DEP
// renames those members to dep_requires and so on (see solvable.h).

#define LIBSOLV_SOLVABLE_PREPEND_DEP 1
#include <solv/chksum.h>
#include <solv/evr.h>
#include <solv/pool.h>
#include <solv/poolarch.h>
#include <solv/repo.h>
#include <solv/repo_solv.h>
#include <solv/repo_write.h>
#include <solv/selection.h>
#include <solv/solver.h>
#include <solv/solverdebug.h>
#include <solv/transaction.h>

// libsolvext's headers have no extern "C" of their own.
extern "C" {
#include <solv/repo_deb.h>
#include <solv/repo_repomdxml.h>
#include <solv/repo_rpmmd.h>
#include <solv/solv_xfopen.h>
#include <solv/testcase.h>
}

#include <initializer_list>
#include <span>
#include <utility>

#include "wrap/c_ptr.hpp"

namespace imgbuild::wrap {

// libsolv's ISRELDEP/GETRELDEP macros mix signed Ids and unsigned masks; these say the same without
// tripping -Wsign-conversion at every use.
inline bool is_reldep(Id id) { return (static_cast<unsigned>(id) & 0x80000000u) != 0; }
inline const Reldep* reldep(const ::Pool* pool, Id id) {
    return pool->rels + static_cast<std::ptrdiff_t>(static_cast<unsigned>(id) ^ 0x80000000u);
}
inline int count(unsigned n) { return static_cast<int>(n); }

using PoolPtr = CPtr<::Pool, pool_free>;
using SolverPtr = CPtr<::Solver, solver_free>;
using TransactionPtr = CPtr<::Transaction, transaction_free>;

// libsolv's Queue (a growable array of Ids) with value semantics.
class Queue {
public:
    Queue() { queue_init(&m_queue); }
    Queue(std::initializer_list<Id> ids) : Queue() {
        for (Id id : ids) push(id);
    }
    ~Queue() { queue_free(&m_queue); }
    Queue(const Queue& other) : Queue() { queue_init_clone(&m_queue, const_cast<::Queue*>(&other.m_queue)); }
    Queue& operator=(const Queue& other) {
        if (this != &other) {
            queue_free(&m_queue);
            queue_init_clone(&m_queue, const_cast<::Queue*>(&other.m_queue));
        }
        return *this;
    }
    Queue(Queue&& other) noexcept : Queue() { std::swap(m_queue, other.m_queue); }
    Queue& operator=(Queue&& other) noexcept {
        std::swap(m_queue, other.m_queue);
        return *this;
    }

    void push(Id id) { queue_push(&m_queue, id); }
    void push2(Id a, Id b) { queue_push2(&m_queue, a, b); }
    void clear() { queue_empty(&m_queue); }
    int size() const { return m_queue.count; }
    bool empty() const { return m_queue.count == 0; }
    Id operator[](int i) const { return m_queue.elements[i]; }
    std::span<const Id> ids() const { return {m_queue.elements, static_cast<std::size_t>(m_queue.count)}; }
    ::Queue* get() { return &m_queue; }

private:
    ::Queue m_queue;
};

} // namespace imgbuild::wrap
