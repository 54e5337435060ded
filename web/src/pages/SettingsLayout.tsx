import { NavLink, Outlet } from 'react-router';

export function SettingsLayout() {
  return (
    <div className="settings">
      <nav aria-label="Settings" className="settings__nav">
        <p className="settings__title">Settings</p>
        <ul>
          <li>
            <NavLink to="/settings/tokens" className="settings__link">
              API tokens
            </NavLink>
          </li>
          <li>
            <NavLink to="/settings/webhook" className="settings__link">
              Webhook
            </NavLink>
          </li>
        </ul>
      </nav>
      <div className="settings__content">
        <Outlet />
      </div>
    </div>
  );
}
