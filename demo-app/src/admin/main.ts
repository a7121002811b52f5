import '../styles.css'
import './admin.css'
import { accessToken } from '../app/token.js'
import { AdminPage } from './admin-page.js'

const root = document.getElementById('admin')
if (root === null) throw new Error('missing #admin')
// Takes `?token=` out of the address bar and keeps it for the tab, as the app does.
accessToken()
new AdminPage(root).start()
