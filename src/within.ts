/** Rejects with `message` when `p` has not settled within `ms` (the work itself is not cancelled). */
export async function within<T>(ms: number, p: Promise<T>, message = `no answer in ${ms} ms`): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
