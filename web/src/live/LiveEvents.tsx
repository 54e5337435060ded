import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { queryKeys } from '../api/queries.ts';
import { trainingKeys } from '../api/trainings.ts';
import type { LiveEvent, Training } from '../api/training-types.ts';

interface Toast {
  id: number;
  tone: 'success' | 'error' | 'info';
  text: string;
  link?: { to: string; label: string };
}

interface LiveState {
  connected: boolean;
  /** When the last event arrived (ms), to tell "quiet" from "disconnected". */
  lastEventAt: number | null;
  /** Latest progress per model that is training, for dashboard cards. */
  progressByModel: Record<string, number | null>;
}

const LiveContext = createContext<LiveState>({ connected: false, lastEventAt: null, progressByModel: {} });
export const useLive = () => useContext(LiveContext);

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

/**
 * One EventSource per tab for every page. Events update the cached rows directly (progress) or
 * mark them stale (status changes), so pages never poll. EventSource reconnects on its own and
 * sends Last-Event-ID; a `resync` event means events were missed, so everything is re-read.
 */
export function LiveEventsProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [state, setState] = useState<LiveState>({ connected: false, lastEventAt: null, progressByModel: {} });
  const [toasts, setToasts] = useState<Toast[]>([]);
  const lastStatus = useRef(new Map<string, string>());

  useEffect(() => {
    const source = new EventSource('/api/events');
    const push = (toast: Omit<Toast, 'id'>) => {
      const id = Date.now() + Math.random();
      setToasts((t) => [...t.slice(-2), { ...toast, id }]);
      setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 10_000);
    };
    source.onopen = () => setState((s) => ({ ...s, connected: true }));
    source.onerror = () => setState((s) => ({ ...s, connected: false }));
    source.addEventListener('resync', () => void qc.invalidateQueries());
    source.addEventListener('training.updated', (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as LiveEvent;
      if (!event.trainingId) return;
      setState((s) => ({
        ...s,
        lastEventAt: Date.now(),
        progressByModel: { ...s.progressByModel, [event.modelId]: event.status && TERMINAL.has(event.status) ? null : (event.progress?.percent ?? null) },
      }));
      const cached = qc.getQueryData<Training>(trainingKeys.training(event.trainingId));
      qc.setQueryData<Training>(trainingKeys.training(event.trainingId), (old) =>
        old ? { ...old, status: event.status ?? old.status, progress: { ...old.progress, ...event.progress }, lastEventAt: event.at } : old,
      );
      // A new stage can bring fields the event does not carry (e.g. the weights became downloadable).
      if (cached && event.progress && cached.progress.stage !== event.progress.stage) {
        void qc.invalidateQueries({ queryKey: trainingKeys.training(event.trainingId) });
      }
      const previous = lastStatus.current.get(event.trainingId);
      if (event.status && previous !== event.status) {
        lastStatus.current.set(event.trainingId, event.status);
        void qc.invalidateQueries({ queryKey: trainingKeys.training(event.trainingId) });
        void qc.invalidateQueries({ queryKey: trainingKeys.modelTrainings(event.modelId) });
        void qc.invalidateQueries({ queryKey: queryKeys.model(event.modelId) });
        void qc.invalidateQueries({ queryKey: queryKeys.allModels });
        if (previous && TERMINAL.has(event.status)) {
          const model = qc.getQueryData<{ name: string }>(queryKeys.model(event.modelId));
          const name = model?.name ?? 'Your model';
          const to = `/trainings/${event.trainingId}`;
          if (event.status === 'succeeded') push({ tone: 'success', text: `${name} finished training and is ready to use.`, link: { to: `/models/${event.modelId}`, label: 'Open model' } });
          else if (event.status === 'failed') push({ tone: 'error', text: `Training ${name} failed.`, link: { to, label: 'See why' } });
          else push({ tone: 'info', text: `Training ${name} was canceled.`, link: { to, label: 'Details' } });
        }
      }
      if (event.progress) void qc.invalidateQueries({ queryKey: trainingKeys.loss(event.trainingId) });
    });
    return () => source.close();
  }, [qc]);

  return (
    <LiveContext.Provider value={state}>
      {children}
      <div className="toasts" aria-live="polite" aria-atomic="false">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast--${t.tone}`} role={t.tone === 'error' ? 'alert' : 'status'}>
            <span>{t.text}</span>
            {t.link && (
              <Link to={t.link.to} className="toast__link">
                {t.link.label}
              </Link>
            )}
            <button type="button" className="toast__close" aria-label="Dismiss notification" onClick={() => setToasts((all) => all.filter((x) => x.id !== t.id))}>
              ×
            </button>
          </div>
        ))}
      </div>
    </LiveContext.Provider>
  );
}
