#include "common/error.h"

#include <errno.h>

const char *ether_error_name(int code)
{
    switch (code) {
#define ETHER_ERROR_NAME(name, number, message) \
    case ETHER_##name:                          \
        return "ETHER_" #name;
        ETHER_ERROR_MAP(ETHER_ERROR_NAME)
#undef ETHER_ERROR_NAME
    }
    return "ETHER_ERR_UNKNOWN";
}

const char *ether_strerror(int code)
{
    switch (code) {
#define ETHER_ERROR_MESSAGE(name, number, message) \
    case ETHER_##name:                             \
        return message;
        ETHER_ERROR_MAP(ETHER_ERROR_MESSAGE)
#undef ETHER_ERROR_MESSAGE
    }
    return "unknown error";
}

int ether_error_from_errno(int errno_value)
{
    switch (errno_value) {
    case 0:
        return ETHER_OK;
    case ENOSPC:
    case EDQUOT:
        return ETHER_ERR_NO_SPACE;
    case ENOMEM:
        return ETHER_ERR_NO_MEMORY;
    case ENOENT:
        return ETHER_ERR_NOT_FOUND;
    case EEXIST:
        return ETHER_ERR_EXISTS;
    case EINVAL:
        return ETHER_ERR_INVALID_ARGUMENT;
    case EBUSY:
    case EWOULDBLOCK:
        return ETHER_ERR_BUSY;
    default:
        return ETHER_ERR_IO;
    }
}
