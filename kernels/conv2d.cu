// conv2d in CUDA C, NCHW, the twin of conv2d.py: the forward pass and the gradients of the input, the
// weight and the bias.
//
//   x (N, C, H, W), w (K, C, kh, kw), b (K,)  ->  y (N, K, Ho, Wo),   Ho = (H + 2 ph - kh) / sh + 1
//   y[n,k,ho,wo] = b[k] + sum_{c,i,j} w[k,c,i,j] x[n, c, ho sh - ph + i, wo sw - pw + j]   (x is 0 outside)
//   dx[n,c,h,w]  = sum_{k,i,j} w[k,c,i,j] g[n,k,ho,wo]   over the (ho, wo) with ho sh - ph + i = h,
//                                                         wo sw - pw + j = w
//   dw[k,c,i,j]  = sum_{n,ho,wo} g[n,k,ho,wo] x[n, c, ho sh - ph + i, wo sw - pw + j]
//   db[k]        = sum_{n,ho,wo} g[n,k,ho,wo]
//
// Two versions of each:
// - naive: one thread per output element, a loop over what it sums, a bounds guard. Easy to read and to
//   trust; the notebook and the tests use them as the oracle of the fast ones.
// - fast (the library's default): implicit GEMM. Each of the three is a matrix product whose operands are
//   read straight from x, w and g (the im2col matrix is never stored):
//       forward          Y[k, (n,ho,wo)] = sum over r = (c,i,j)    of W[k, r] X[r, (n,ho,wo)]
//       input gradient   DX[c, (n,h,w)]  = sum over r = (k,i,j)    of W'[c, r] G'[r, (n,h,w)]
//       weight gradient  DW[k, (c,i,j)]  = sum over r = (n,ho,wo)  of G[k, r] X'[r, (c,i,j)]
//   One tiled kernel, gemm_tiled, computes all three; a small struct per product says how to read its two
//   operands (a(m, r), and b(r, column) with the column's index arithmetic done once, in column(n)) and
//   where to store an output element.
//
// Determinism: every output element is summed by one thread in a fixed order; the input gradient is a
// gather (each thread computes one input element) rather than a scatter with atomics; the weight gradient
// is split over blocks into partial sums that a second kernel adds in a fixed order. No float atomics.
#include "block_reduce.cuh"

struct ConvShape {
    int N, C, H, W, K, kh, kw, sh, sw, ph, pw, Ho, Wo;
};

__device__ inline ConvShape conv_shape(int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph,
                                       int pw) {
    return {N, C, H, W, K, kh, kw, sh, sw, ph, pw, (H + 2 * ph - kh) / sh + 1, (W + 2 * pw - kw) / sw + 1};
}

// ----- naive kernels: one thread per output element ---------------------------------------------------

template <typename T>
__device__ void conv2d_forward_naive(const T* x, const T* w, const T* b, T* y, ConvShape s) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= (long long)s.N * s.K * s.Ho * s.Wo) return;
    // BEGIN SOLUTION (task 6)
    long long t = idx;
    const int wo = t % s.Wo; t /= s.Wo;
    const int ho = t % s.Ho; t /= s.Ho;
    const int k = t % s.K;
    const int n = t / s.K;
    T acc = b[k];
    for (int c = 0; c < s.C; ++c)
        for (int i = 0; i < s.kh; ++i) {
            const int h = ho * s.sh - s.ph + i;
            if (h < 0 || h >= s.H) continue;  // padding: x is 0 there
            for (int j = 0; j < s.kw; ++j) {
                const int v = wo * s.sw - s.pw + j;
                if (v < 0 || v >= s.W) continue;
                acc += w[((k * s.C + c) * s.kh + i) * s.kw + j] * x[(((long long)n * s.C + c) * s.H + h) * s.W + v];
            }
        }
    y[idx] = acc;
    // END SOLUTION
}

template <typename T>
__device__ void conv2d_backward_input_naive(const T* g, const T* w, T* dx, ConvShape s) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= (long long)s.N * s.C * s.H * s.W) return;
    long long t = idx;
    const int v = t % s.W; t /= s.W;
    const int h = t % s.H; t /= s.H;
    const int c = t % s.C;
    const int n = t / s.C;
    T acc = 0;
    for (int k = 0; k < s.K; ++k)
        for (int i = 0; i < s.kh; ++i) {
            const int th = h + s.ph - i;  // = ho * sh for the output row that read row h through tap i
            if (th < 0 || th % s.sh != 0 || th / s.sh >= s.Ho) continue;
            for (int j = 0; j < s.kw; ++j) {
                const int tw = v + s.pw - j;
                if (tw < 0 || tw % s.sw != 0 || tw / s.sw >= s.Wo) continue;
                acc += w[((k * s.C + c) * s.kh + i) * s.kw + j] *
                       g[(((long long)n * s.K + k) * s.Ho + th / s.sh) * s.Wo + tw / s.sw];
            }
        }
    dx[idx] = acc;
}

template <typename T>
__device__ void conv2d_backward_weight_naive(const T* g, const T* x, T* dw, ConvShape s) {
    long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (idx >= (long long)s.K * s.C * s.kh * s.kw) return;
    long long t = idx;
    const int j = t % s.kw; t /= s.kw;
    const int i = t % s.kh; t /= s.kh;
    const int c = t % s.C;
    const int k = t / s.C;
    T acc = 0;
    for (int n = 0; n < s.N; ++n)
        for (int ho = 0; ho < s.Ho; ++ho) {
            const int h = ho * s.sh - s.ph + i;
            if (h < 0 || h >= s.H) continue;
            for (int wo = 0; wo < s.Wo; ++wo) {
                const int v = wo * s.sw - s.pw + j;
                if (v < 0 || v >= s.W) continue;
                acc += g[(((long long)n * s.K + k) * s.Ho + ho) * s.Wo + wo] *
                       x[(((long long)n * s.C + c) * s.H + h) * s.W + v];
            }
        }
    dw[idx] = acc;
}

// db[k]: one block per output channel, a block_sum over its N Ho Wo gradient values.
constexpr int BIAS_THREADS = 256;

template <typename T>
__device__ void conv2d_backward_bias(const T* g, T* db, int N, int K, long long L) {
    const int k = blockIdx.x;
    if (k >= K) return;  // the whole block returns together
    T partial = 0;
    for (long long q = threadIdx.x; q < N * L; q += blockDim.x) partial += g[((q / L) * K + k) * L + q % L];
    T total = block_sum<T, BIAS_THREADS>(partial);
    if (threadIdx.x == 0) db[k] = total;
}

// ----- fast kernels: implicit GEMM, tiled in shared memory --------------------------------------------
//
// A block of 16 x 16 = 256 threads computes a TILE_M x TILE_N = 64 x 64 tile of the output matrix; each
// thread owns 4 x 4 of its elements, spaced 16 apart (thread (tx, ty) has rows ty + 16 i and columns
// tx + 16 j) so that neighbouring threads read neighbouring shared-memory words. The reduction runs in
// steps of TILE_K = 16: the block copies a 64 x 16 slice of A and a 16 x 64 slice of B into shared memory,
// waits until the copy is complete, multiplies from shared memory (each value read from global memory
// once per block instead of 64 times), and waits again before the next copy overwrites the slices.
constexpr int TILE_M = 64, TILE_N = 64, TILE_K = 16, GEMM_THREADS = 256;

template <typename T, typename Gemm>
__device__ void gemm_tiled(const Gemm& op, int r_begin, int r_end, int part) {
    __shared__ T As[TILE_K][TILE_M + 1];  // + 1: the copy's stores, 64 words apart, hit different banks
    __shared__ T Bs[TILE_K][TILE_N];
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int m0 = blockIdx.y * TILE_M, n0 = blockIdx.x * TILE_N;
    // Each thread copies B's values of one column, my_col, at every step: its index arithmetic (which
    // image, which pixel: divisions, costly on a GPU) is done once here, not once per value copied.
    static_assert(GEMM_THREADS % TILE_N == 0, "each thread must keep one column of B");
    const int my_col = threadIdx.x % TILE_N;
    const bool col_ok = n0 + my_col < op.cols;
    const typename Gemm::Column col = op.column(col_ok ? n0 + my_col : 0);
    T acc[4][4] = {};
    for (int r0 = r_begin; r0 < r_end; r0 += TILE_K) {
        // Consecutive threads copy consecutive r of A (consecutive addresses of w or g) and consecutive
        // columns of B (consecutive pixels of x or g): coalesced reads. Outside the matrix: zeros.
        for (int e = threadIdx.x; e < TILE_M * TILE_K; e += GEMM_THREADS) {
            const int m = m0 + e / TILE_K, r = r0 + e % TILE_K;
            As[e % TILE_K][e / TILE_K] = (m < op.rows && r < r_end) ? op.a(m, r) : T(0);
        }
        for (int rr = threadIdx.x / TILE_N; rr < TILE_K; rr += GEMM_THREADS / TILE_N) {
            const int r = r0 + rr;
            Bs[rr][my_col] = (col_ok && r < r_end) ? op.b(r, col) : T(0);
        }
        __syncthreads();  // the slices are complete before anyone reads them
        for (int rr = 0; rr < TILE_K; ++rr) {
            T a[4], b[4];
            for (int i = 0; i < 4; ++i) a[i] = As[rr][ty + 16 * i];
            for (int j = 0; j < 4; ++j) b[j] = Bs[rr][tx + 16 * j];
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
        }
        __syncthreads();  // everyone is done with the slices before the next step overwrites them
    }
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
            if (m < op.rows && n < op.cols) op.store(m, n, acc[i][j], part);
        }
}

// Forward: A = w as a K x (C kh kw) matrix, B = the receptive fields of x, stored as y + b.
template <typename T>
struct ForwardGemm {
    const T *x, *w, *bias;
    T* y;
    ConvShape s;
    int rows, cols;  // K, N Ho Wo
    __device__ T a(int k, int r) const { return w[(long long)k * s.C * s.kh * s.kw + r]; }
    struct Column {  // output pixel (n, ho, wo): where its receptive field starts
        long long image;  // offset of x[n]
        int h0, w0;       // ho sh - ph, wo sw - pw
    };
    __device__ Column column(int col) const {
        const int n = col / (s.Ho * s.Wo), ho = (col / s.Wo) % s.Ho, wo = col % s.Wo;
        return {(long long)n * s.C * s.H * s.W, ho * s.sh - s.ph, wo * s.sw - s.pw};
    }
    __device__ T b(int r, const Column& p) const {
        const int c = r / (s.kh * s.kw), h = p.h0 + (r / s.kw) % s.kh, v = p.w0 + r % s.kw;
        if (h < 0 || h >= s.H || v < 0 || v >= s.W) return T(0);
        return x[p.image + ((long long)c * s.H + h) * s.W + v];
    }
    __device__ void store(int k, int col, T value, int) const {
        const int n = col / (s.Ho * s.Wo), p = col % (s.Ho * s.Wo);
        y[((long long)n * s.K + k) * s.Ho * s.Wo + p] = value + bias[k];
    }
};

// Input gradient: A[c, (k,i,j)] = w[k,c,i,j]; B[(k,i,j), (n,h,w)] = the g that pixel (h, w) fed through
// tap (i, j), or 0 when no output read it (the stride skipped it, or it falls outside).
template <typename T>
struct InputGradGemm {
    const T *g, *w;
    T* dx;
    ConvShape s;
    int rows, cols;  // C, N H W
    __device__ T a(int c, int r) const {
        const int k = r / (s.kh * s.kw), q = r % (s.kh * s.kw);
        return w[((long long)k * s.C + c) * s.kh * s.kw + q];
    }
    struct Column {  // input pixel (n, h, w)
        long long image;  // offset of g[n]
        int th0, tw0;     // h + ph, w + pw
    };
    __device__ Column column(int col) const {
        const int n = col / (s.H * s.W), h = (col / s.W) % s.H, v = col % s.W;
        return {(long long)n * s.K * s.Ho * s.Wo, h + s.ph, v + s.pw};
    }
    __device__ T b(int r, const Column& p) const {
        const int k = r / (s.kh * s.kw), th = p.th0 - (r / s.kw) % s.kh, tw = p.tw0 - r % s.kw;
        if (th < 0 || tw < 0 || th % s.sh != 0 || tw % s.sw != 0) return T(0);
        const int ho = th / s.sh, wo = tw / s.sw;
        if (ho >= s.Ho || wo >= s.Wo) return T(0);
        return g[p.image + ((long long)k * s.Ho + ho) * s.Wo + wo];
    }
    __device__ void store(int c, int col, T value, int) const {
        const int n = col / (s.H * s.W), p = col % (s.H * s.W);
        dx[((long long)n * s.C + c) * s.H * s.W + p] = value;
    }
};

// Weight gradient: A[k, (n,ho,wo)] = g; B[(n,ho,wo), (c,i,j)] = the receptive fields of x. The reduction
// (N Ho Wo long) is split over gridDim.z blocks; block z stores its partial sum in parts[z].
template <typename T>
struct WeightGradGemm {
    const T *g, *x;
    T* parts;
    ConvShape s;
    int rows, cols;  // K, C kh kw
    __device__ T a(int k, int r) const {
        const int n = r / (s.Ho * s.Wo), p = r % (s.Ho * s.Wo);
        return g[((long long)n * s.K + k) * s.Ho * s.Wo + p];
    }
    struct Column {  // weight (c, i, j)
        long long channel;  // offset of channel c within an image of x
        int i, j;
    };
    __device__ Column column(int col) const {
        const int c = col / (s.kh * s.kw);
        return {(long long)c * s.H * s.W, (col / s.kw) % s.kh, col % s.kw};
    }
    __device__ T b(int r, const Column& p) const {
        const int n = r / (s.Ho * s.Wo), ho = (r / s.Wo) % s.Ho, wo = r % s.Wo;
        const int h = ho * s.sh - s.ph + p.i, v = wo * s.sw - s.pw + p.j;
        if (h < 0 || h >= s.H || v < 0 || v >= s.W) return T(0);
        return x[(long long)n * s.C * s.H * s.W + p.channel + (long long)h * s.W + v];
    }
    __device__ void store(int k, int col, T value, int part) const {
        parts[((long long)part * rows + k) * cols + col] = value;
    }
};

template <typename T>
__device__ void conv2d_forward_fast(const T* x, const T* w, const T* b, T* y, ConvShape s) {
    ForwardGemm<T> op{x, w, b, y, s, s.K, s.N * s.Ho * s.Wo};
    gemm_tiled<T>(op, 0, s.C * s.kh * s.kw, 0);
}

template <typename T>
__device__ void conv2d_backward_input_fast(const T* g, const T* w, T* dx, ConvShape s) {
    InputGradGemm<T> op{g, w, dx, s, s.C, s.N * s.H * s.W};
    gemm_tiled<T>(op, 0, s.K * s.kh * s.kw, 0);
}

template <typename T>
__device__ void conv2d_backward_weight_fast(const T* g, const T* x, T* parts, ConvShape s) {
    WeightGradGemm<T> op{g, x, parts, s, s.K, s.C * s.kh * s.kw};
    // Block z sums the reduction indices [z * chunk, (z + 1) * chunk); chunk is a whole number of tiles.
    const int depth = s.N * s.Ho * s.Wo;
    const int tiles = (depth + TILE_K - 1) / TILE_K;
    const int chunk = (tiles + gridDim.z - 1) / gridDim.z * TILE_K;
    const int begin = blockIdx.z * chunk;
    gemm_tiled<T>(op, begin, min(depth, begin + chunk), blockIdx.z);
}

// out[e] = sum over the parts of parts[part, e], in order: the second half of the split weight gradient.
template <typename T>
__device__ void sum_parts(const T* parts, T* out, int nparts, long long size) {
    long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (e >= size) return;
    T acc = 0;
    for (int p = 0; p < nparts; ++p) acc += parts[p * size + e];
    out[e] = acc;
}

// ----- entry points: one per kernel and dtype ---------------------------------------------------------
// The shape arguments are always (N, C, H, W, K, kh, kw, sh, sw, ph, pw), those of x and w.
#define CONV_SHAPE_PARAMS int N, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int ph, int pw
#define CONV_SHAPE conv_shape(N, C, H, W, K, kh, kw, sh, sw, ph, pw)

extern "C" __global__ void conv2d_forward_naive_f32(const float* x, const float* w, const float* b, float* y,
                                                     CONV_SHAPE_PARAMS) {
    conv2d_forward_naive(x, w, b, y, CONV_SHAPE);
}
extern "C" __global__ void conv2d_forward_naive_f64(const double* x, const double* w, const double* b, double* y,
                                                     CONV_SHAPE_PARAMS) {
    conv2d_forward_naive(x, w, b, y, CONV_SHAPE);
}
extern "C" __global__ void conv2d_forward_fast_f32(const float* x, const float* w, const float* b, float* y,
                                                   CONV_SHAPE_PARAMS) {
    conv2d_forward_fast(x, w, b, y, CONV_SHAPE);
}
extern "C" __global__ void conv2d_forward_fast_f64(const double* x, const double* w, const double* b, double* y,
                                                   CONV_SHAPE_PARAMS) {
    conv2d_forward_fast(x, w, b, y, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_input_naive_f32(const float* g, const float* w, float* dx,
                                                            CONV_SHAPE_PARAMS) {
    conv2d_backward_input_naive(g, w, dx, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_input_naive_f64(const double* g, const double* w, double* dx,
                                                            CONV_SHAPE_PARAMS) {
    conv2d_backward_input_naive(g, w, dx, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_input_fast_f32(const float* g, const float* w, float* dx,
                                                          CONV_SHAPE_PARAMS) {
    conv2d_backward_input_fast(g, w, dx, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_input_fast_f64(const double* g, const double* w, double* dx,
                                                          CONV_SHAPE_PARAMS) {
    conv2d_backward_input_fast(g, w, dx, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_weight_naive_f32(const float* g, const float* x, float* dw,
                                                             CONV_SHAPE_PARAMS) {
    conv2d_backward_weight_naive(g, x, dw, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_weight_naive_f64(const double* g, const double* x, double* dw,
                                                             CONV_SHAPE_PARAMS) {
    conv2d_backward_weight_naive(g, x, dw, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_weight_fast_f32(const float* g, const float* x, float* parts,
                                                           CONV_SHAPE_PARAMS) {
    conv2d_backward_weight_fast(g, x, parts, CONV_SHAPE);
}
extern "C" __global__ void conv2d_backward_weight_fast_f64(const double* g, const double* x, double* parts,
                                                           CONV_SHAPE_PARAMS) {
    conv2d_backward_weight_fast(g, x, parts, CONV_SHAPE);
}
extern "C" __global__ void sum_parts_f32(const float* parts, float* out, int nparts, long long size) {
    sum_parts(parts, out, nparts, size);
}
extern "C" __global__ void sum_parts_f64(const double* parts, double* out, int nparts, long long size) {
    sum_parts(parts, out, nparts, size);
}
extern "C" __global__ void conv2d_backward_bias_f32(const float* g, float* db, int N, int K, long long L) {
    conv2d_backward_bias(g, db, N, K, L);
}
extern "C" __global__ void conv2d_backward_bias_f64(const double* g, double* db, int N, int K, long long L) {
    conv2d_backward_bias(g, db, N, K, L);
}
