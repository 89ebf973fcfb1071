"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { ErrorNote } from "@/components/ErrorNote";
import { useAuth } from "@/lib/auth";

export default function SignIn() {
  const { signIn } = useAuth();
  const router = useRouter();
  const [adminToken, setAdminToken] = useState("");
  const [projectKey, setProjectKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(adminToken, projectKey);
      router.replace("/dashboard");
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card narrow">
      <h1>Sign in</h1>
      <p className="muted">
        A project API key shows its own project and chats in the playground. The admin token opens every project and the
        admin page. Give one or both; they stay in this browser tab only.
      </p>
      <form onSubmit={submit} className="stack">
        <label>
          Admin token
          <input name="admin-token" type="password" autoComplete="off" value={adminToken} onChange={(e) => setAdminToken(e.target.value)} />
        </label>
        <label>
          Project API key
          <input name="project-key" type="password" autoComplete="off" value={projectKey} onChange={(e) => setProjectKey(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
        <ErrorNote error={error} />
      </form>
    </section>
  );
}
