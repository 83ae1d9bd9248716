// ReLU in CUDA C, the twin of relu.py. One thread per element, guarded by a bounds check.
//
// Forward:  y = max(x, 0), NaN passes through (as in PyTorch), hence "x < 0" rather than "x > 0".
// Backward: dL/dx = g where the forward output y > 0, else 0.

template <typename T>
__device__ void relu_forward(const T* x, T* y, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] < T(0) ? T(0) : x[i];
}

template <typename T>
__device__ void relu_backward(const T* g, const T* y, T* dx, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) dx[i] = y[i] > T(0) ? g[i] : T(0);
}

extern "C" __global__ void relu_forward_f32(const float* x, float* y, long long n) { relu_forward(x, y, n); }
extern "C" __global__ void relu_forward_f64(const double* x, double* y, long long n) { relu_forward(x, y, n); }
extern "C" __global__ void relu_backward_f32(const float* g, const float* y, float* dx, long long n) {
    relu_backward(g, y, dx, n);
}
extern "C" __global__ void relu_backward_f64(const double* g, const double* y, double* dx, long long n) {
    relu_backward(g, y, dx, n);
}
