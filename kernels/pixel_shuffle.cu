// Pixel shuffle and unshuffle in CUDA C, the twins of pixel_shuffle.py. One thread per output element,
// each a gather (it reads the one input element it needs), so no two threads write the same place.
//
// shuffle:   x (N, C r^2, H, W) -> y (N, C, H r, W r),  y[n, c, h r + i, w r + j] = x[n, c r^2 + i r + j, h, w]
// unshuffle: its inverse (and its adjoint, hence each one's backward), y (N, C, H r, W r) -> x.

template <typename T>
__device__ void pixel_shuffle(const T* x, T* y, int N, int C, int H, int W, int r) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    const long long Hr = (long long)H * r, Wr = (long long)W * r;
    if (idx >= (long long)N * C * Hr * Wr) return;
    long long t = idx;
    const int ow = t % Wr; t /= Wr;
    const int oh = t % Hr; t /= Hr;
    const int c = t % C;
    const int n = t / C;
    const int h = oh / r, i = oh % r, w = ow / r, j = ow % r;
    const long long channel = (long long)n * C * r * r + (long long)c * r * r + i * r + j;
    y[idx] = x[(channel * H + h) * W + w];
}

template <typename T>
__device__ void pixel_unshuffle(const T* y, T* x, int N, int C, int H, int W, int r) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    const int Crr = C * r * r;
    if (idx >= (long long)N * Crr * H * W) return;
    long long t = idx;
    const int w = t % W; t /= W;
    const int h = t % H; t /= H;
    const int cc = t % Crr;
    const int n = t / Crr;
    const int c = cc / (r * r), i = (cc / r) % r, j = cc % r;
    const long long Hr = (long long)H * r, Wr = (long long)W * r;
    x[idx] = y[(((long long)n * C + c) * Hr + (long long)h * r + i) * Wr + (long long)w * r + j];
}

extern "C" __global__ void pixel_shuffle_f32(const float* x, float* y, int N, int C, int H, int W, int r) {
    pixel_shuffle(x, y, N, C, H, W, r);
}
extern "C" __global__ void pixel_shuffle_f64(const double* x, double* y, int N, int C, int H, int W, int r) {
    pixel_shuffle(x, y, N, C, H, W, r);
}
extern "C" __global__ void pixel_unshuffle_f32(const float* y, float* x, int N, int C, int H, int W, int r) {
    pixel_unshuffle(y, x, N, C, H, W, r);
}
extern "C" __global__ void pixel_unshuffle_f64(const double* y, double* x, int N, int C, int H, int W, int r) {
    pixel_unshuffle(y, x, N, C, H, W, r);
}
