// block_reduce.cuh: a deterministic sum over the threads of one block (included by avg_pool.cu, conv2d.cu).
//
// Every thread brings one partial sum; a tree in shared memory adds them pairwise: BLOCK/2 threads add
// the upper half onto the lower half, then BLOCK/4, ... until partial[0] holds the total. The order of
// the additions is fixed by the thread numbers, so the result is the same bit for bit on every run (an
// atomicAdd of floats would depend on which thread came first). BLOCK must be the block size, a power of 2.

template <typename Acc, int BLOCK>
__device__ Acc block_sum(Acc value) {
    __shared__ Acc partial[BLOCK];
    Acc total = Acc(0);
    // BEGIN SOLUTION (task 6)
    partial[threadIdx.x] = value;
    __syncthreads();
    for (int half = BLOCK / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    total = partial[0];
    __syncthreads();  // every thread has read the total before the next call overwrites partial[]
    // END SOLUTION
    return total;
}
