// cuda_emu.h: the CUDA programming model on a CPU, just enough to run minircan's .cu files unchanged.
//
// The emulator compiles a kernel file with the host C++ compiler, with this header included first
// (g++ -include cuda_emu.h). What it provides, and how:
//
//   __global__, __device__, __forceinline__   plain C++ functions
//   threadIdx, blockIdx, blockDim, gridDim    globals that the scheduler sets before it runs a thread
//   __shared__                                 `static`: one copy that every thread of the block sees;
//                                              blocks run one after another, so one copy is per block
//   __syncthreads()                            a real barrier: every CUDA thread is a fiber (ucontext)
//                                              with its own stack; at a barrier a fiber hands control
//                                              back to the scheduler, which resumes the block's fibers,
//                                              in order, only once all of them have reached the barrier
//   atomicAdd, math functions                  the host's (fibers never run at the same time)
//
// A block runs in rounds: every live fiber runs until its next __syncthreads() or its end. A round in
// which some threads wait at a barrier while others have returned, or in which threads wait at
// different barriers, is a bug in the kernel (undefined behaviour on a GPU): the launch reports it.
//
// Launch: emu::launch(grid, block, body) runs body() once for every thread of every block, exactly as
// kernel<<<grid, block>>>(...) would, one block at a time. The Python side (kernels/emulator.py)
// generates, for each `extern "C" __global__` kernel of a file, an entry point that unpacks the
// arguments from an array of pointers (as cuLaunchKernel takes them) and reports the parameter types so
// that a launch with the wrong argument types is refused before it runs.
#pragma once

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __shared__ static
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
using uint3 = dim3;

inline dim3 threadIdx, blockIdx, blockDim, gridDim;

// Device code calls the C++ overloads (expf and exp(float) both exist on a GPU).
using std::abs;
using std::exp;
using std::fabs;
using std::fmax;
using std::fmin;
using std::log;
using std::max;
using std::min;
using std::sqrt;
using std::tanh;

inline float atomicAdd(float* address, float value) {
    float old = *address;
    *address = old + value;
    return old;
}
inline double atomicAdd(double* address, double value) {
    double old = *address;
    *address = old + value;
    return old;
}
inline int atomicAdd(int* address, int value) {
    int old = *address;
    *address = old + value;
    return old;
}

namespace emu {

enum class State { runnable, at_barrier, finished };

struct Fiber {
    ucontext_t context;
    char* stack = nullptr;
    State state = State::runnable;
    int barrier_line = 0;  // the source line of the __syncthreads() the fiber waits at
};

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned kMaxThreadsPerBlock = 1024;

inline ucontext_t scheduler;
inline Fiber* current = nullptr;
inline const std::function<void()>* body = nullptr;
inline std::vector<Fiber> fibers;  // reused between launches: stacks are allocated once
inline std::string error;          // the last launch's error, empty when it succeeded

inline void run_fiber() {
    (*body)();
    current->state = State::finished;  // returning resumes the scheduler (uc_link)
}

inline void sync(int line) {
    current->state = State::at_barrier;
    current->barrier_line = line;
    swapcontext(&current->context, &scheduler);
}

inline dim3 unflatten(unsigned t, const dim3& shape) {
    dim3 d;
    d.x = t % shape.x;
    d.y = (t / shape.x) % shape.y;
    d.z = t / (shape.x * shape.y);
    return d;
}

inline std::string where(const dim3& b) {
    return "block (" + std::to_string(b.x) + ", " + std::to_string(b.y) + ", " + std::to_string(b.z) + ")";
}

// Runs one block to its end; returns false (with `error` set) on a barrier that not all threads reach.
inline bool run_block(unsigned nthreads) {
    for (unsigned t = 0; t < nthreads; ++t) {
        Fiber& f = fibers[t];
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack;
        f.context.uc_stack.ss_size = kStackBytes;
        f.context.uc_link = &scheduler;
        makecontext(&f.context, run_fiber, 0);
        f.state = State::runnable;
    }
    for (;;) {
        for (unsigned t = 0; t < nthreads; ++t) {
            Fiber& f = fibers[t];
            if (f.state == State::finished) continue;
            f.state = State::runnable;
            current = &f;
            threadIdx = unflatten(t, blockDim);
            swapcontext(&scheduler, &f.context);
        }
        unsigned waiting = 0, finished = 0, first_waiting = 0, first_finished = 0;
        int line = 0;
        for (unsigned t = 0; t < nthreads; ++t) {
            const Fiber& f = fibers[t];
            if (f.state == State::at_barrier) {
                if (waiting == 0) {
                    first_waiting = t;
                    line = f.barrier_line;
                } else if (f.barrier_line != line) {
                    error = where(blockIdx) + ": thread " + std::to_string(first_waiting) +
                            " waits at the __syncthreads() on line " + std::to_string(line) + " but thread " +
                            std::to_string(t) + " at the one on line " + std::to_string(f.barrier_line) +
                            "; every thread of a block must reach the same barriers";
                    return false;
                }
                ++waiting;
            } else if (f.state == State::finished) {
                if (finished == 0) first_finished = t;
                ++finished;
            }
        }
        if (waiting == 0) return true;
        if (finished > 0) {
            error = where(blockIdx) + ": thread " + std::to_string(first_waiting) +
                    " waits at the __syncthreads() on line " + std::to_string(line) + " but thread " +
                    std::to_string(first_finished) +
                    " has returned without reaching it (a return before a barrier, e.g. in a bounds guard?); "
                    "every thread of a block must reach every __syncthreads()";
            return false;
        }
    }
}

// kernel<<<grid, block>>>: runs body for every thread of every block. Returns 0, or 1 with `error` set.
inline int launch(const unsigned* grid, const unsigned* block, const std::function<void()>& kernel) {
    error.clear();
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    const unsigned long long nthreads = 1ULL * block[0] * block[1] * block[2];
    if (nthreads == 0 || nthreads > kMaxThreadsPerBlock || grid[0] * 1ULL * grid[1] * grid[2] == 0) {
        error = "invalid launch configuration: a block of " + std::to_string(nthreads) +
                " threads (CUDA allows 1 to 1024) and a grid of " +
                std::to_string(grid[0] * 1ULL * grid[1] * grid[2]) + " blocks (at least 1)";
        return 1;
    }
    while (fibers.size() < nthreads) {
        fibers.emplace_back();
        // malloc, not a zeroed vector: pages a fiber never touches are never paid for.
        fibers.back().stack = static_cast<char*>(std::malloc(kStackBytes));
    }
    body = &kernel;
    for (unsigned z = 0; z < grid[2]; ++z)
        for (unsigned y = 0; y < grid[1]; ++y)
            for (unsigned x = 0; x < grid[0]; ++x) {
                blockIdx = {x, y, z};
                if (!run_block(static_cast<unsigned>(nthreads))) return 1;
            }
    return 0;
}

// The parameter types of a kernel, as a string such as "const float*,float*,long long", so that the
// Python side can refuse a launch whose arguments do not match (CUDA would read garbage).
template <typename T>
struct type_name;
#define EMU_TYPE_NAME(T)                              \
    template <>                                       \
    struct type_name<T> {                             \
        static constexpr const char* value = #T;      \
    };
EMU_TYPE_NAME(float*)
EMU_TYPE_NAME(const float*)
EMU_TYPE_NAME(double*)
EMU_TYPE_NAME(const double*)
EMU_TYPE_NAME(int)
EMU_TYPE_NAME(long long)
EMU_TYPE_NAME(float)
EMU_TYPE_NAME(double)
#undef EMU_TYPE_NAME

template <typename... A>
std::string signature(void (*)(A...)) {
    std::string s;
    ((s += std::string(s.empty() ? "" : ",") + type_name<std::remove_cv_t<A>>::value), ...);
    return s;
}

template <typename... A, size_t... I>
void call(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<std::remove_cv_t<A>*>(args[I])...);
}

template <typename... A>
void invoke(void (*f)(A...), void** args) {
    call(f, args, std::index_sequence_for<A...>{});
}

}  // namespace emu

#define __syncthreads() emu::sync(__LINE__)
