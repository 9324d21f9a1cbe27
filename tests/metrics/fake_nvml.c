/*
 * A fake libnvidia-ml.so for tests: the NVML entry points planner-tui calls, with figures that are a
 * function of the GPU index, configured through environment variables read on each call:
 *
 *   FAKE_NVML_GPU_COUNT    number of GPUs (default 2)
 *   FAKE_NVML_INIT_ERROR   nvmlInitWithFlags returns this NVML error code (e.g. 9: driver not loaded)
 *   FAKE_NVML_UNSUPPORTED  comma list of fields answering NVML_ERROR_NOT_SUPPORTED:
 *                          fan, power, temperature, clock, utilization, processes
 *   FAKE_NVML_UTIL         comma list of GPU utilisation percentages, one per GPU
 *   FAKE_NVML_PROCESSES    semicolon list of "gpu:pid:MiB" compute processes
 *
 * Memory is reported as a real driver does: nvmlDeviceGetMemoryInfo's "used" (total - free) includes
 * the driver's reserved memory (512 MiB here), nvmlDeviceGetMemoryInfo_v2's "used" does not (what
 * nvidia-smi shows).
 *
 * Compiled with -DFAKE_NVML_MINIMAL it omits the fan, power, clock, process and memory v2 functions, so
 * the real bindings raise NVMLError_FunctionNotFound for them (an old driver).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_MEMORY_V2 0x02000028u
#define MAX_GPUS 64
#define MAX_PROCS 256

typedef struct { int index; } fake_device;
typedef fake_device *nvmlDevice_t;
typedef struct { unsigned int gpu; unsigned int memory; } nvmlUtilization_t;
typedef struct { unsigned long long total; unsigned long long free; unsigned long long used; } nvmlMemory_t;
typedef struct {
    unsigned int version;
    unsigned long long total;
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_v2_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

static fake_device devices[MAX_GPUS];

static int gpu_count(void) {
    const char *text = getenv("FAKE_NVML_GPU_COUNT");
    int count = text ? atoi(text) : 2;
    return count < 0 ? 0 : (count > MAX_GPUS ? MAX_GPUS : count);
}

static int unsupported(const char *field) {
    const char *list = getenv("FAKE_NVML_UNSUPPORTED");
    size_t n = strlen(field);
    while (list && *list) {
        if (strncmp(list, field, n) == 0 && (list[n] == ',' || list[n] == '\0')) return 1;
        list = strchr(list, ',');
        if (list) list++;
    }
    return 0;
}

static int valid(nvmlDevice_t device) {
    return device && device->index >= 0 && device->index < gpu_count();
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    const char *error = getenv("FAKE_NVML_INIT_ERROR");
    (void)flags;
    for (int i = 0; i < MAX_GPUS; i++) devices[i].index = i;
    return error ? atoi(error) : NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case 0: return "Success";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    snprintf(version, length, "999.99-fake");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    *count = (unsigned int)gpu_count();
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if ((int)index >= gpu_count()) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(name, length, "Fake GPU %d", device->index);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(uuid, length, "GPU-fake-%04d", device->index);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *util) {
    const char *list = getenv("FAKE_NVML_UTIL");
    unsigned int value = 10u * (unsigned int)(device->index + 1);
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("utilization")) return NVML_ERROR_NOT_SUPPORTED;
    for (int i = 0; list && *list; i++) {
        if (i == device->index) { value = (unsigned int)atoi(list); break; }
        list = strchr(list, ',');
        if (list) list++;
    }
    util->gpu = value;
    util->memory = value / 2;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    const unsigned long long mib = 1024ull * 1024ull;
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = 81920ull * mib;
    memory->used = 1024ull * (unsigned long long)(device->index + 1) * mib;
    memory->free = memory->total - memory->used;
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_MINIMAL
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    const unsigned long long mib = 1024ull * 1024ull;
    nvmlMemory_t v1;
    nvmlReturn_t status;
    if (memory->version != NVML_MEMORY_V2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    status = nvmlDeviceGetMemoryInfo(device, &v1);
    if (status != NVML_SUCCESS) return status;
    memory->total = v1.total;
    memory->free = v1.free;
    memory->reserved = 512ull * mib;
    memory->used = v1.used - memory->reserved;
    return NVML_SUCCESS;
}
#endif

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp) {
    (void)sensor;
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("temperature")) return NVML_ERROR_NOT_SUPPORTED;
    *temp = 40u + (unsigned int)device->index;
    return NVML_SUCCESS;
}

#ifndef FAKE_NVML_MINIMAL
nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *milliwatts) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("power")) return NVML_ERROR_NOT_SUPPORTED;
    *milliwatts = 100000u + 1000u * (unsigned int)device->index;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *milliwatts) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("power")) return NVML_ERROR_NOT_SUPPORTED;
    *milliwatts = 700000u;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetFanSpeed(nvmlDevice_t device, unsigned int *speed) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("fan")) return NVML_ERROR_NOT_SUPPORTED;
    *speed = 30u + (unsigned int)device->index;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("clock")) return NVML_ERROR_NOT_SUPPORTED;
    *clock = type == 1 ? 1410u : 1000u; /* 1 = NVML_CLOCK_SM */
    return NVML_SUCCESS;
}

static nvmlReturn_t running_processes(nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_t *infos) {
    const char *list = getenv("FAKE_NVML_PROCESSES");
    nvmlProcessInfo_t found[MAX_PROCS];
    unsigned int n = 0;
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("processes")) return NVML_ERROR_NOT_SUPPORTED;
    while (list && *list && n < MAX_PROCS) {
        int gpu = 0;
        unsigned int pid = 0;
        unsigned long long mib = 0;
        if (sscanf(list, "%d:%u:%llu", &gpu, &pid, &mib) == 3 && gpu == device->index) {
            memset(&found[n], 0, sizeof(found[n]));
            found[n].pid = pid;
            found[n].usedGpuMemory = mib * 1024ull * 1024ull;
            n++;
        }
        list = strchr(list, ';');
        if (list) list++;
    }
    if (n == 0) { *count = 0; return NVML_SUCCESS; }
    if (infos == NULL || *count < n) { *count = n; return NVML_ERROR_INSUFFICIENT_SIZE; }
    memcpy(infos, found, n * sizeof(found[0]));
    *count = n;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_t *infos) {
    return running_processes(device, count, infos);
}

nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                      nvmlProcessInfo_t *infos) {
    (void)device;
    (void)infos;
    *count = 0;
    return NVML_SUCCESS;
}
#endif
