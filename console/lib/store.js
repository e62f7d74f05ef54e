// The one store the screens render from. Changes go through `store.set`; the root component
// subscribes and renders the whole tree again (Preact diffs it).

import { useEffect, useState } from '../vendor/hooks.module.js';
import { emptyWorkspace } from './model.js';

let state = { screen: 'boot', locale: 'en', timeZone: undefined, session: null, ...emptyWorkspace() };
const listeners = new Set();

export const store = {
  get: () => state,
  /** A patch object, or a function from the state to the next state. */
  set(patch) {
    const next = typeof patch === 'function' ? patch(state) : { ...state, ...patch };
    if (next === state) return;
    state = next;
    for (const fn of listeners) fn(state);
  },
  subscribe(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};

/** The current state, re-rendering the component on every change. */
export function useStore() {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), []);
  return state;
}
