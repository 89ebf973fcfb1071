"use client";

// Who is signed in: an admin token, a project key, or both. They live in the
// tab's sessionStorage only, so closing the tab signs out and no other tab or
// site can read them.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { edgeJson } from "./edge";
import type { BudgetStatus } from "./types";

export type Credentials = {
  adminToken: string | null;
  projectKey: string | null;
  // The project of `projectKey`.
  projectId: string | null;
};

type Auth = {
  ready: boolean;
  credentials: Credentials | null;
  signIn: (adminToken: string, projectKey: string) => Promise<void>;
  signOut: () => void;
};

const STORAGE_KEY = "gateway-console.credentials";
const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [ready, setReady] = useState(false);
  const [credentials, setCredentials] = useState<Credentials | null>(null);

  useEffect(() => {
    const stored = window.sessionStorage.getItem(STORAGE_KEY);
    if (stored) setCredentials(JSON.parse(stored) as Credentials);
    setReady(true);
  }, []);

  const signIn = useCallback(async (adminToken: string, projectKey: string) => {
    const admin = adminToken.trim() || null;
    const key = projectKey.trim() || null;
    if (!admin && !key) throw new Error("Enter an admin token, a project API key, or both.");
    // Each secret is checked against an endpoint that only its kind may call.
    if (admin) await edgeJson("/admin/projects", admin);
    const projectId = key ? (await edgeJson<BudgetStatus>("/v1/budget", key)).project_id : null;
    const signedIn = { adminToken: admin, projectKey: key, projectId };
    window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(signedIn));
    setCredentials(signedIn);
  }, []);

  const signOut = useCallback(() => {
    window.sessionStorage.removeItem(STORAGE_KEY);
    setCredentials(null);
  }, []);

  const value = useMemo(() => ({ ready, credentials, signIn, signOut }), [ready, credentials, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth() needs an <AuthProvider> above it.");
  return auth;
}
