/*
 * cuda_graph_launch.cu: device graph launch for the super-kernel cache
 * (issue 8, CARAVEL_GRAPH_LAUNCH=device). A wave's captured graph, made
 * launchable from the device, is launched by a one-node launcher graph
 * whose only kernel tail-launches it: the host then launches one node
 * instead of a hundred or more, which is what costs a lane's thread 10-24
 * us under load (docs/RESULTS.md, thirteenth session).
 *
 * A tail launch runs after the launching graph completes, and work queued
 * on the stream after the launcher waits for it: the wave's stop event,
 * its downloads and the next wave see the same order as with the graph
 * launched from the host. The launcher's parameter (the target's handle)
 * never changes, and nothing of the target does either (the mapped rebind
 * node reads its members from host memory), which device-launched graphs
 * require: an update would have to be uploaded again before the next
 * launch.
 *
 * This file alone is relocatable device code (the device runtime's
 * cudaGraphLaunch links from cudadevrt): its own library in CMakeLists.
 */
#include <cuda_runtime.h>

/* One thread launches the wave's graph once this kernel's graph ends. A
 * refusal on the device cannot be returned to the launch: the kernel
 * writes it into `error` (a word of mapped host memory), which the host
 * reads once the stream has synchronised, so that a wave that did not
 * run is an error, not stale outputs (cv_cuda_graph_take_launch_error). */
__global__ void tail_launch_kernel(cudaGraphExec_t graph, int *error)
{
    if (threadIdx.x != 0) return;
    cudaError_t e = cudaGraphLaunch(graph, cudaStreamGraphTailLaunch);
    if (e != cudaSuccess) *(volatile int *)error = (int)e;
}

extern "C" cudaError_t cv_cuda_graph_launcher_make(cudaGraphExec_t target, int *error, cudaGraphExec_t *launcher)
{
    *launcher = NULL;
    cudaGraph_t graph = NULL;
    cudaError_t ce = cudaGraphCreate(&graph, 0);
    if (ce != cudaSuccess) return ce;
    void *args[] = {&target, &error};
    cudaKernelNodeParams p = {};
    p.func = (void *)tail_launch_kernel;
    p.gridDim = dim3(1);
    p.blockDim = dim3(1);
    p.kernelParams = args;
    cudaGraphNode_t node;
    ce = cudaGraphAddKernelNode(&node, graph, NULL, 0, &p);
    if (ce == cudaSuccess) ce = cudaGraphInstantiate(launcher, graph, 0);
    if (ce != cudaSuccess) *launcher = NULL;
    cudaGraphDestroy(graph);
    return ce;
}
