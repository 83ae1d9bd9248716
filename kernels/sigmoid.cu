// Logistic sigmoid in CUDA C, the twin of sigmoid.py. One thread per element, guarded by a bounds check.
//
// Forward:  y = 1 / (1 + exp(-x)), computed stably: e = exp(-|x|) is in (0, 1], never overflows, and
//           y = 1 / (1 + e) for x >= 0, e / (1 + e) for x < 0 (the same value, rewritten). So
//           sigmoid(-1000) = 0 and sigmoid(1000) = 1 exactly, never NaN.
// Backward: dL/dx = g * y * (1 - y), from the saved output y; exactly 0 where y is 0 or 1.

template <typename T>
__device__ void sigmoid_forward(const T* x, T* y, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    // BEGIN SOLUTION (task 6)
    T v = x[i];
    T e = exp(-fabs(v));
    T r = T(1) / (T(1) + e);
    y[i] = v >= T(0) ? r : e * r;
    // END SOLUTION
}

template <typename T>
__device__ void sigmoid_backward(const T* g, const T* y, T* dx, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    // BEGIN SOLUTION (task 6)
    dx[i] = g[i] * y[i] * (T(1) - y[i]);
    // END SOLUTION
}

extern "C" __global__ void sigmoid_forward_f32(const float* x, float* y, long long n) { sigmoid_forward(x, y, n); }
extern "C" __global__ void sigmoid_forward_f64(const double* x, double* y, long long n) { sigmoid_forward(x, y, n); }
extern "C" __global__ void sigmoid_backward_f32(const float* g, const float* y, float* dx, long long n) {
    sigmoid_backward(g, y, dx, n);
}
extern "C" __global__ void sigmoid_backward_f64(const double* g, const double* y, double* dx, long long n) {
    sigmoid_backward(g, y, dx, n);
}
