/**
 * The slice of the Reflect metadata API that @peculiar/x509 (through tsyringe) needs at load time:
 * getMetadata, getOwnMetadata, defineMetadata. A few lines here instead of another dependency;
 * import this module before "@peculiar/x509". Leaves a real polyfill alone when one is loaded.
 */

type Store = Map<unknown, unknown>;
const stores = new WeakMap<object, Store>();

function ownStore(target: object, create: boolean): Store | undefined {
  let store = stores.get(target);
  if (!store && create) {
    store = new Map();
    stores.set(target, store);
  }
  return store;
}

const api = {
  defineMetadata(key: unknown, value: unknown, target: object): void {
    ownStore(target, true)!.set(key, value);
  },
  getOwnMetadata(key: unknown, target: object): unknown {
    return ownStore(target, false)?.get(key);
  },
  getMetadata(key: unknown, target: object): unknown {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) {
      const store = ownStore(t, false);
      if (store?.has(key)) return store.get(key);
    }
    return undefined;
  },
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== "function") {
  for (const [name, fn] of Object.entries(api)) reflect[name] = fn;
}

export {};
