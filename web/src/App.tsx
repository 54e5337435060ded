import { Navigate, Route, Routes } from 'react-router';
import { RequireSignedIn, RequireSignedOut } from './auth/session.tsx';
import { AppShell } from './components/AppShell.tsx';
import { AdminPage } from './pages/AdminPage.tsx';
import { ModelPage } from './pages/ModelPage.tsx';
import { DatasetPage } from './pages/DatasetPage.tsx';
import { TrainPage } from './pages/TrainPage.tsx';
import { TrainingPage } from './pages/TrainingPage.tsx';
import { GeneratePage } from './pages/GeneratePage.tsx';
import { LiveEventsProvider } from './live/LiveEvents.tsx';
import { ModelsPage } from './pages/ModelsPage.tsx';
import { NewModelPage } from './pages/NewModelPage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { SettingsLayout } from './pages/SettingsLayout.tsx';
import { SharedGenerationPage } from './pages/SharedGenerationPage.tsx';
import { SignInPage } from './pages/SignInPage.tsx';
import { SignUpPage } from './pages/SignUpPage.tsx';
import { TokensPage } from './pages/TokensPage.tsx';
import { WebhookPage } from './pages/WebhookPage.tsx';

export function App() {
  return (
    <Routes>
      {/* A public share link: for anyone holding it, signed in or not. */}
      <Route path="/s/:token" element={<SharedGenerationPage />} />
      <Route element={<RequireSignedOut />}>
        <Route path="/signin" element={<SignInPage />} />
        <Route path="/signup" element={<SignUpPage />} />
      </Route>
      <Route element={<RequireSignedIn />}>
        <Route
          element={
            <LiveEventsProvider>
              <AppShell />
            </LiveEventsProvider>
          }
        >
          <Route index element={<Navigate to="/models" replace />} />
          <Route path="/models" element={<ModelsPage />} />
          <Route path="/models/new" element={<NewModelPage />} />
          <Route path="/models/:id" element={<ModelPage />} />
          <Route path="/models/:id/images" element={<DatasetPage />} />
          <Route path="/models/:id/train" element={<TrainPage />} />
          <Route path="/trainings/:id" element={<TrainingPage />} />
          <Route path="/models/:id/generate" element={<GeneratePage />} />
          <Route path="/settings" element={<SettingsLayout />}>
            <Route index element={<Navigate to="/settings/tokens" replace />} />
            <Route path="tokens" element={<TokensPage />} />
            <Route path="webhook" element={<WebhookPage />} />
          </Route>
          <Route path="/admin" element={<AdminPage />} />
          <Route path="*" element={<NotFoundPage />} />
        </Route>
      </Route>
    </Routes>
  );
}
