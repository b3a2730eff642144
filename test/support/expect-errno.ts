import { expect } from 'vitest';
import { IoasidError } from '@ioasid/core';

/** Runs `fn` and asserts it fails with exactly `errno` (and a message matching `message`). Shared by every package's tests. */
export function expectErrno(fn: () => unknown, errno: string, message?: RegExp): IoasidError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${errno}`).toBeInstanceOf(IoasidError);
  expect((err as IoasidError).errno).toBe(errno);
  if (message) expect((err as IoasidError).message).toMatch(message);
  return err as IoasidError;
}
