'use strict';
// naudiodon calls registerHandler() at load time to print native stack traces.
// Steno contains native crashes by process isolation instead, so this is a no-op.
module.exports = {
  registerHandler() {},
  causeSegfault() {
    throw new Error('segfault-handler stand-in: causeSegfault is not supported');
  },
};
