#include "proto/proto.h"

const char *proto_api_name(uint16_t api_key)
{
    switch (api_key) {
#define PROTO_API_NAME(name, key, version, request, response) \
    case key:                                                 \
        return #name;
        PROTO_API_MAP(PROTO_API_NAME)
#undef PROTO_API_NAME
    }
    return NULL;
}

const ProtobufCMessageDescriptor *proto_api_descriptor(uint16_t api_key, bool is_response)
{
    switch (api_key) {
#define PROTO_API_DESCRIPTOR(name, key, version, request, response) \
    case key:                                                       \
        return is_response ? &response : &request;
        PROTO_API_MAP(PROTO_API_DESCRIPTOR)
#undef PROTO_API_DESCRIPTOR
    }
    return NULL;
}

uint16_t proto_api_version_max(uint16_t api_key)
{
    switch (api_key) {
#define PROTO_API_VERSION(name, key, version, request, response) \
    case key:                                                    \
        return version;
        PROTO_API_MAP(PROTO_API_VERSION)
#undef PROTO_API_VERSION
    }
    return 0;
}
