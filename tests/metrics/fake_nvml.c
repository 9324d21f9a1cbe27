/*
 * A fake libnvidia-ml.so for tests: the NVML entry points planner-tui calls, with figures that are a
 * function of the GPU index, configured through environment variables read on each call:
 *
 *   FAKE_NVML_GPU_COUNT    number of GPUs (default 2)
 *   FAKE_NVML_INIT_ERROR   nvmlInitWithFlags returns this NVML error code (e.g. 9: driver not loaded)
 *   FAKE_NVML_UNSUPPORTED  comma list of fields answering NVML_ERROR_NOT_SUPPORTED:
 *                          fan, power, temperature, clock, utilization, processes
 *   FAKE_NVML_UTIL         comma list of GPU utilisation percentages, one per GPU
 *   FAKE_NVML_PROCESSES    semicolon list of "gpu:pid:MiB[:sm]" compute processes; "sm" (percent) makes
 *                          nvmlDeviceGetProcessUtilization report a sample for that process
 *   FAKE_NVML_NAME         the name of every GPU, "%d" standing for its index (default "Fake GPU %d")
 *   FAKE_NVML_MIG          semicolon list of "gpu:count": that GPU is in MIG mode with `count` MIG devices
 *                          (GPUs not listed do not support MIG)
 *   FAKE_NVML_THROTTLE     semicolon list of "gpu:mask" (hex or decimal): the GPU's clocks event reasons
 *   FAKE_NVML_ECC          semicolon list of "gpu:corrected:uncorrected" volatile ECC error counts
 *                          (aggregate counts are 100 more of each)
 *
 * FAKE_NVML_UNSUPPORTED also knows: ecc, throttle, process_utilization, mig.
 *
 * Memory is reported as a real driver does: nvmlDeviceGetMemoryInfo's "used" (total - free) includes
 * the driver's reserved memory (512 MiB here), nvmlDeviceGetMemoryInfo_v2's "used" does not (what
 * nvidia-smi shows).
 *
 * Compiled with -DFAKE_NVML_MINIMAL it omits the fan, power, clock, process, process utilisation, MIG,
 * clocks event reasons, ECC and memory v2 functions (keeping the older
 * nvmlDeviceGetCurrentClocksThrottleReasons), so
 * the real bindings raise NVMLError_FunctionNotFound for them (an old driver).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25
#define NVML_MEMORY_V2 0x02000028u
#define MAX_GPUS 64
#define MAX_PROCS 256
#define MAX_MIG 7

/* a GPU (mig < 0) or one of its MIG devices (mig >= 0) */
typedef struct { int index; int mig; } fake_device;
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

typedef struct {
    unsigned int pid;
    unsigned long long timeStamp;
    unsigned int smUtil;
    unsigned int memUtil;
    unsigned int encUtil;
    unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

static fake_device devices[MAX_GPUS];
static fake_device mig_devices[MAX_GPUS][MAX_MIG];

/* the value listed for `gpu` in a semicolon list of "gpu:value..." entries, or NULL */
static const char *entry_for(const char *variable, int gpu) {
    const char *list = getenv(variable);
    while (list && *list) {
        char *end;
        long index = strtol(list, &end, 10);
        if (end != list && *end == ':' && index == gpu) return end + 1;
        list = strchr(list, ';');
        if (list) list++;
    }
    return NULL;
}

static int mig_count(int gpu) {
    const char *value = entry_for("FAKE_NVML_MIG", gpu);
    int count = value ? atoi(value) : -1;
    return count > MAX_MIG ? MAX_MIG : count;
}

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
    return device && device->index >= 0 && device->index < gpu_count() &&
           (device->mig < 0 || device->mig < mig_count(device->index));
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    const char *error = getenv("FAKE_NVML_INIT_ERROR");
    (void)flags;
    for (int i = 0; i < MAX_GPUS; i++) {
        devices[i].index = i;
        devices[i].mig = -1;
        for (int m = 0; m < MAX_MIG; m++) {
            mig_devices[i][m].index = i;
            mig_devices[i][m].mig = m;
        }
    }
    return error ? atoi(error) : NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case 0: return "Success";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 6: return "Not Found";
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
    const char *pattern = getenv("FAKE_NVML_NAME");
    if (device->mig >= 0) snprintf(name, length, "Fake GPU %d MIG 1g.10gb", device->index);
    else snprintf(name, length, pattern ? pattern : "Fake GPU %d", device->index);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (device->mig >= 0) snprintf(uuid, length, "MIG-fake-%04d-%d", device->index, device->mig);
    else snprintf(uuid, length, "GPU-fake-%04d", device->index);
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
    if (device->mig >= 0) {
        memory->total = 10240ull * mib;
        memory->used = 100ull * (unsigned long long)(device->mig + 1) * mib;
        memory->free = memory->total - memory->used;
        return NVML_SUCCESS;
    }
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

static nvmlReturn_t clocks_event_reasons(nvmlDevice_t device, unsigned long long *reasons) {
    const char *value;
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("throttle")) return NVML_ERROR_NOT_SUPPORTED;
    value = entry_for("FAKE_NVML_THROTTLE", device->index);
    *reasons = value ? strtoull(value, NULL, 0) : 0ull;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *reasons) {
    return clocks_event_reasons(device, reasons);
}

#ifndef FAKE_NVML_MINIMAL
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *reasons) {
    return clocks_event_reasons(device, reasons);
}

nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, int errorType, int counterType,
                                         unsigned long long *count) {
    const char *value;
    unsigned long long corrected = 0, uncorrected = 0;
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("ecc")) return NVML_ERROR_NOT_SUPPORTED;
    value = entry_for("FAKE_NVML_ECC", device->index);
    if (value) sscanf(value, "%llu:%llu", &corrected, &uncorrected);
    *count = (errorType == 0 ? corrected : uncorrected) + (counterType == 1 ? 100ull : 0ull);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    if (!valid(device) || device->mig >= 0) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("mig") || mig_count(device->index) < 0) return NVML_ERROR_NOT_SUPPORTED;
    *current = 1;
    *pending = 1;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int *count) {
    if (!valid(device) || device->mig >= 0) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("mig") || mig_count(device->index) < 0) return NVML_ERROR_NOT_SUPPORTED;
    *count = MAX_MIG;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index, nvmlDevice_t *mig) {
    if (!valid(device) || device->mig >= 0) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("mig") || mig_count(device->index) < 0) return NVML_ERROR_NOT_SUPPORTED;
    if (index >= MAX_MIG) return NVML_ERROR_INVALID_ARGUMENT;
    if ((int)index >= mig_count(device->index)) return NVML_ERROR_NOT_FOUND;
    *mig = &mig_devices[device->index][index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int *id) {
    if (!valid(device) || device->mig < 0) return NVML_ERROR_INVALID_ARGUMENT;
    *id = (unsigned int)device->mig + 1u;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *samples,
                                             unsigned int *count, unsigned long long lastSeen) {
    const char *list = getenv("FAKE_NVML_PROCESSES");
    nvmlProcessUtilizationSample_t found[MAX_PROCS];
    unsigned int n = 0;
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    if (unsupported("process_utilization")) return NVML_ERROR_NOT_SUPPORTED;
    while (list && *list && n < MAX_PROCS) {
        int gpu = 0;
        unsigned int pid = 0, sm = 0;
        unsigned long long mib = 0;
        if (sscanf(list, "%d:%u:%llu:%u", &gpu, &pid, &mib, &sm) == 4 && gpu == device->index && device->mig < 0) {
            memset(&found[n], 0, sizeof(found[n]));
            found[n].pid = pid;
            found[n].timeStamp = lastSeen + 1ull;
            found[n].smUtil = sm;
            found[n].memUtil = sm / 2u;
            n++;
        }
        list = strchr(list, ';');
        if (list) list++;
    }
    if (n == 0) return NVML_ERROR_NOT_FOUND; /* no sample since lastSeen, as the driver says it */
    if (samples == NULL || *count < n) { *count = n; return NVML_ERROR_INSUFFICIENT_SIZE; }
    memcpy(samples, found, n * sizeof(found[0]));
    *count = n;
    return NVML_SUCCESS;
}

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
        if (sscanf(list, "%d:%u:%llu", &gpu, &pid, &mib) == 3 && gpu == device->index && device->mig < 0) {
            memset(&found[n], 0, sizeof(found[n]));
            found[n].pid = pid;
            found[n].usedGpuMemory = mib * 1024ull * 1024ull;
            found[n].gpuInstanceId = 0xFFFFFFFFu; /* not in a MIG instance, as a real driver says */
            found[n].computeInstanceId = 0xFFFFFFFFu;
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
