export default async function globalTeardown() {
  await globalThis.__NLE_CONTROL_PLANE__?.stop();
}
