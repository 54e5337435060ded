import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { useQueryClient, type InfiniteData, type QueryClient } from '@tanstack/react-query';
import type { Model } from '../api/types.ts';
import { Link } from 'react-router';
import { queryKeys } from '../api/queries.ts';
import { trainingKeys } from '../api/trainings.ts';
import type { LiveEvent, Training, TrainingStatus } from '../api/training-types.ts';
import { reconnectDelayMs } from './reconnect.ts';

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

/** A model's name and status from whatever this tab has cached: its own page or a dashboard list. */
function modelName(qc: QueryClient, modelId: string): { name?: string; status?: string } {
  const own = qc.getQueryData<Model>(queryKeys.model(modelId));
  if (own) return own;
  for (const [, data] of qc.getQueriesData<InfiniteData<{ models: Model[] }>>({ queryKey: queryKeys.allModels })) {
    const found = data?.pages?.flatMap((p) => p.models).find((m) => m.id === modelId);
    if (found) return found;
  }
  return {};
}

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
    let source: EventSource | undefined;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;
    const push = (toast: Omit<Toast, 'id'>) => {
      const id = Date.now() + Math.random();
      setToasts((t) => [...t.slice(-2), { ...toast, id }]);
      // A failure stays until dismissed: it asks for action, and a timed-out message could go unread.
      if (toast.tone !== 'error') setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 15_000);
    };
    const onTrainingUpdated = (message: Event) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as LiveEvent;
      if (!event.trainingId) return;
      setState((s) => ({
        ...s,
        lastEventAt: Date.now(),
        progressByModel: { ...s.progressByModel, [event.modelId]: event.status && TERMINAL.has(event.status) ? null : (event.progress?.percent ?? null) },
      }));
      const cached = qc.getQueryData<Training>(trainingKeys.training(event.trainingId));
      // The stream types `status` loosely (generation events carry a generation's); here it is the training's.
      qc.setQueryData<Training>(trainingKeys.training(event.trainingId), (old) =>
        old ? { ...old, status: (event.status as TrainingStatus | undefined) ?? old.status, progress: { ...old.progress, ...event.progress }, lastEventAt: event.at } : old,
      );
      // A new stage can bring fields the event does not carry (e.g. the weights became downloadable).
      if (cached && event.progress && cached.progress.stage !== event.progress.stage) {
        void qc.invalidateQueries({ queryKey: trainingKeys.training(event.trainingId) });
      }
      // The status this tab knew before, from an earlier event or from a page that loaded the training
      // or the model: a training that ends while the tab is open gets its toast even if this is the first event.
      const previous = lastStatus.current.get(event.trainingId) ?? cached?.status ?? (modelName(qc, event.modelId).status === 'training' ? 'processing' : undefined);
      if (event.status && previous !== event.status) {
        lastStatus.current.set(event.trainingId, event.status);
        void qc.invalidateQueries({ queryKey: trainingKeys.training(event.trainingId) });
        void qc.invalidateQueries({ queryKey: trainingKeys.modelTrainings(event.modelId) });
        void qc.invalidateQueries({ queryKey: queryKeys.model(event.modelId) });
        void qc.invalidateQueries({ queryKey: queryKeys.allModels });
        if (previous && !TERMINAL.has(previous) && TERMINAL.has(event.status)) {
          const name = modelName(qc, event.modelId).name ?? 'Your model';
          const to = `/trainings/${event.trainingId}`;
          if (event.status === 'succeeded') push({ tone: 'success', text: `${name} is ready.`, link: { to: `/models/${event.modelId}`, label: 'Open model' } });
          else if (event.status === 'failed') push({ tone: 'error', text: `Training failed: ${name}.`, link: { to, label: 'See why' } });
          else push({ tone: 'info', text: `Training ${name} was canceled.`, link: { to, label: 'Details' } });
        }
      }
      if (event.progress) void qc.invalidateQueries({ queryKey: trainingKeys.loss(event.trainingId) });
    };
    const connect = () => {
      const stream = new EventSource('/api/events');
      source = stream;
      stream.onopen = () => {
        // A new stream after the browser gave up one: what happened in between was not replayed.
        if (failures > 0) void qc.invalidateQueries();
        failures = 0;
        setState((s) => ({ ...s, connected: true }));
      };
      stream.onerror = () => {
        setState((s) => ({ ...s, connected: false }));
        // EventSource reconnects by itself after a dropped connection, but gives up for good on an
        // HTTP error answer (a proxy's 502 during a deploy, a 429): start a new one after a while.
        if (stream.readyState !== EventSource.CLOSED || stopped) return;
        failures++;
        retryTimer = setTimeout(connect, reconnectDelayMs(failures));
      };
      stream.addEventListener('resync', () => void qc.invalidateQueries());
      stream.addEventListener('training.updated', onTrainingUpdated);
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retryTimer);
      source?.close();
    };
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
