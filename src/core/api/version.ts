/**
 * The version of the API between front ends and the services. A client of
 * another version is refused with API_VERSION_MISMATCH: the wire shapes are
 * checked, not hoped for. Raise it whenever a command, event or payload
 * changes in a way an older client would misread.
 */
export const API_VERSION = 1;
