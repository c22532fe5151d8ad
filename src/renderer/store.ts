import { createStore, useStore, type StateCreator } from 'zustand';
import type { AppInfo, StenoApi } from '../preload/api';

/**
 * One store, in slices. Components read it through the smallest selector that
 * serves them, so a change re-renders only what shows it. High-frequency data
 * (gauges, levels) will use transient subscriptions (`stenoStore.subscribe`),
 * not React state.
 */

export type Connection =
  | { readonly status: 'connecting' }
  | { readonly status: 'connected'; readonly info: AppInfo }
  | { readonly status: 'not-connected' }
  | { readonly status: 'failed'; readonly message: string };

export interface AppInfoSlice {
  readonly connection: Connection;
  /** Asks the backend who it is; `api` is undefined outside Electron. */
  loadAppInfo(api: StenoApi | undefined): Promise<void>;
}

export type StenoState = AppInfoSlice;

const createAppInfoSlice: StateCreator<StenoState, [], [], AppInfoSlice> = (set) => ({
  connection: { status: 'connecting' },
  async loadAppInfo(api) {
    if (!api) {
      set({ connection: { status: 'not-connected' } });
      return;
    }
    set({ connection: { status: 'connecting' } });
    try {
      const info = await api.appInfo();
      set({ connection: { status: 'connected', info } });
    } catch (error) {
      set({
        connection: {
          status: 'failed',
          message: error instanceof Error ? error.message : String(error),
        },
      });
    }
  },
});

/** A new store; tests make their own, the app uses `stenoStore`. */
export function createStenoStore() {
  return createStore<StenoState>()((...a) => ({
    ...createAppInfoSlice(...a),
  }));
}

export const stenoStore = createStenoStore();

export function useSteno<T>(selector: (state: StenoState) => T): T {
  return useStore(stenoStore, selector);
}

// Selectors: one value each, stable references.
export const selectConnection = (s: StenoState): Connection => s.connection;
