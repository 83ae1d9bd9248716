// Global average pooling in CUDA C, the twin of avg_pool.py. x (N, C, H, W) seen as P = N C planes of
// L = H W pixels.
//
// Forward:  y[p] = (1 / L) sum_q x[p, q]. One block per plane: each thread adds every 256th pixel of it
//           (consecutive threads read consecutive pixels: coalesced), in double like the CPU kernel, then
//           block_sum adds the 256 partial sums in a fixed tree order: deterministic, no atomics.
// Backward: dL/dx[p, q] = g[p] / L. One thread per input pixel.
#include "block_reduce.cuh"

constexpr int POOL_THREADS = 256;  // the block size of avg_pool_forward; a power of 2 for block_sum

template <typename T>
__device__ void avg_pool_forward(const T* x, T* y, long long planes, long long L) {
    long long p = blockIdx.x;
    if (p >= planes) return;  // the whole block returns together: no thread is left at a barrier
    // BEGIN SOLUTION (task 6)
    double partial = 0;
    for (long long q = threadIdx.x; q < L; q += blockDim.x) partial += x[p * L + q];
    double total = block_sum<double, POOL_THREADS>(partial);
    if (threadIdx.x == 0) y[p] = T(total / L);
    // END SOLUTION
}

template <typename T>
__device__ void avg_pool_backward(const T* g, T* dx, long long planes, long long L) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < planes * L) dx[i] = T(double(g[i / L]) / L);
}

extern "C" __global__ void avg_pool_forward_f32(const float* x, float* y, long long planes, long long L) {
    avg_pool_forward(x, y, planes, L);
}
extern "C" __global__ void avg_pool_forward_f64(const double* x, double* y, long long planes, long long L) {
    avg_pool_forward(x, y, planes, L);
}
extern "C" __global__ void avg_pool_backward_f32(const float* g, float* dx, long long planes, long long L) {
    avg_pool_backward(g, dx, planes, L);
}
extern "C" __global__ void avg_pool_backward_f64(const double* g, double* dx, long long planes, long long L) {
    avg_pool_backward(g, dx, planes, L);
}
