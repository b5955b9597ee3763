"""Asynchronous exceptions: how a cancel reaches Python code running on a thread other than
the main one (a Job API job, or a statement when the driver does not run in the main thread)."""

import ctypes


def post_async_exc(thread_id, exc_type):
    n = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                   ctypes.py_object(exc_type))
    return n == 1


def clear_async_exc(thread_id):
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
