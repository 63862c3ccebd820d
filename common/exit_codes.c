/* Maps error codes to the documented exit codes. */
#include "common/exit_codes.h"

int ebb_exit_for_code(ebb_code code)
{
    switch (code) {
    case EBB_OK:
        return EBB_EXIT_OK;
    case EBB_E_INVALID:
        return EBB_EXIT_USAGE;
    case EBB_E_CONFIG:
    case EBB_E_KEY_PERM:
    case EBB_E_KEY_FORMAT:
        return EBB_EXIT_CONFIG;
    case EBB_E_LOCKED:
    case EBB_E_CHECKSUM:
    case EBB_E_REFUSED:
    case EBB_E_CONFLICT:
        return EBB_EXIT_REFUSED;
    case EBB_E_VERIFY:
        return EBB_EXIT_VERIFY;
    case EBB_E_NET:
    case EBB_E_TIMEOUT:
        return EBB_EXIT_UNAVAILABLE;
    default:
        return EBB_EXIT_FAILURE;
    }
}
